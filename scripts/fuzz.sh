#!/usr/bin/env bash
# Runs every fuzz target of the module, one after the other, each for
# FUZZTIME (default 30s), and reports which failed.
#
#   scripts/fuzz.sh                          # every target
#   FUZZTIME=2m scripts/fuzz.sh              # longer
#   scripts/fuzz.sh FuzzRouteInput FuzzClean # only these
#
# A target is any `func FuzzXxx(f *testing.F)` in a *_test.go file. When one
# fails, go writes the failing input to testdata/fuzz/<Name>/ in its
# package's directory; from then on `go test` runs it as a seed. Fix the bug
# and commit that file as a regression seed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

fuzztime="${FUZZTIME:-30s}"

# Every "<dir> <name>" pair, skipping directories go ignores (testdata,
# vendor, node_modules and names starting with '.' or '_').
mapfile -t targets < <(
  find . \( -name testdata -o -name vendor -o -name node_modules -o -name '.?*' -o -name '_*' \) -prune \
    -o -type f -name '*_test.go' -print0 |
    xargs -0 -r grep -H -o -E '^func Fuzz[A-Za-z0-9_]*\(' |
    sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' |
    sort -u
)

if [[ $# -gt 0 ]]; then
  wanted=" $* "
  selected=()
  for t in "${targets[@]}"; do
    [[ "$wanted" == *" ${t#* } "* ]] && selected+=("$t")
  done
  targets=("${selected[@]}")
fi

if [[ ${#targets[@]} -eq 0 ]]; then
  echo "fuzz.sh: no fuzz targets found${*:+ named $*}" >&2
  exit 1
fi

echo "fuzz.sh: ${#targets[@]} targets, ${fuzztime} each"

log=$(mktemp)
trap 'rm -f "$log"' EXIT

failed=()
summary=()
for t in "${targets[@]}"; do
  dir=${t% *}
  name=${t#* }
  pkg="$dir"
  echo
  echo "=== $name ($pkg)"
  status=0
  go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$pkg" 2>&1 | tee "$log" || status=$?
  # The last progress line holds the total number of executions.
  execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)
  if [[ $status -eq 0 ]]; then
    summary+=("ok    $name ($pkg): ${execs:-0} execs")
    continue
  fi
  # Go's fuzzing coordinator can report its own -fuzztime deadline as a
  # failure: "--- FAIL" followed by a bare "context deadline exceeded", and
  # no input written (golang/go#75804, unfixed in Go 1.26). The fuzzing ran
  # its full time and found nothing, so that is not a failure.
  if ! grep -q 'Failing input written to\|failure while testing seed corpus entry' "$log" &&
    grep -A1 -- "^--- FAIL: $name " "$log" | grep -qx '[[:space:]]*context deadline exceeded'; then
    echo "fuzz.sh: $name: go's fuzzing coordinator reported its own deadline (golang/go#75804); no failing input, counted as passed."
    summary+=("ok    $name ($pkg): ${execs:-0} execs (deadline race at the end: golang/go#75804)")
    continue
  fi
  failed+=("$name")
  summary+=("FAIL  $name ($pkg): ${execs:-0} execs")
  # go prints "Failing input written to testdata/fuzz/<Name>/<hash>".
  written=$(grep -o 'Failing input written to [^ ]*' "$log" | tail -n 1 | sed 's/^Failing input written to //' || true)
  if [[ -n "$written" ]]; then
    file="${dir#./}/$written"
    cat <<EOF

fuzz.sh: $name found a failing input. go has written it to
  $file
(in testdata/fuzz/$name/ of package $pkg). Reproduce it with
  go test -run='^${name}/${written##*/}\$' $pkg
then fix the bug and commit that file as a regression seed: go test runs
every file in testdata/fuzz/$name/ as a test case.
EOF
  else
    seed=$(grep -o 'failure while testing seed corpus entry: [^ ]*' "$log" | tail -n 1 | sed 's/^.*entry: //' || true)
    echo
    if [[ -n "$seed" ]]; then
      echo "fuzz.sh: $name fails on the seed $seed (f.Add, or a file in ${dir#./}/testdata/fuzz/$name/) before fuzzing; see the output above."
    else
      echo "fuzz.sh: $name failed without a failing input (did it build?); see the output above."
    fi
  fi
done

echo
echo "fuzz.sh: summary"
printf '  %s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets passed"
