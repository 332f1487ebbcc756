#!/usr/bin/env bash
# Times one tus upload of FILE as a single PATCH against a running example
# server, until the response that reports the verified outcome.
#
#   go run ./examples/basic -addr 127.0.0.1:18090 -data /tmp/bench-data &
#   scripts/tus-upload-time.sh FILE [http://127.0.0.1:18090/api/uploads]
set -euo pipefail
f=$1
base=${2:-http://127.0.0.1:18090/api/uploads}
size=$(stat -c %s "$f")
md="route $(printf files | base64),filename $(printf upload.bin | base64)"
loc=$(curl -sS -D - -o /dev/null -X POST -H "Tus-Resumable: 1.0.0" -H "Upload-Length: $size" \
  -H "Upload-Metadata: $md" "$base/tus/" | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
start=$(date +%s.%N)
code=$(curl -sS -o /dev/null -w "%{http_code}" -X PATCH -H "Tus-Resumable: 1.0.0" -H "Upload-Offset: 0" \
  -H "Content-Type: application/offset+octet-stream" -T "$f" "$loc")
end=$(date +%s.%N)
state=$(curl -sS "$base/uploads/${loc##*/}" | sed 's/.*"state":"\([a-z]*\)".*/\1/')
echo "status=$code state=$state seconds=$(echo "$end - $start" | bc)"
