package drivers_test

import (
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa/storage"
)

// This test binary imports no driver package, so storage.Open must name the
// import each cloud scheme needs.
func TestOpenNamesTheMissingDriver(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, want string }{
		{"s3://uploads?region=us-east-1", `storage: no driver for "s3://" URLs; import _ "github.com/carcosa-dev/carcosa/storage/s3"`},
		{"gs://uploads", `storage: no driver for "gs://" URLs; import _ "github.com/carcosa-dev/carcosa/storage/gcs"`},
		{"azblob://uploads", `storage: no driver for "azblob://" URLs; import _ "github.com/carcosa-dev/carcosa/storage/azure"`},
		{"S3://uploads", `import _ "github.com/carcosa-dev/carcosa/storage/s3"`},
		{"ftp://host/dir", `storage: no driver for "ftp://" URLs; import its gocloud.dev/blob driver`},
	} {
		b, err := storage.Open(t.Context(), tc.url)
		if err == nil {
			b.Close()
			t.Errorf("Open(%q) succeeded; want an error", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %q; want it to contain %q", tc.url, err, tc.want)
		}
	}
	b, err := storage.Open(t.Context(), "mem://")
	if err != nil {
		t.Fatalf("mem:// is built in: %v", err)
	}
	b.Close()
}
