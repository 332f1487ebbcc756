package blobstage

import (
	"testing"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/carcosa-dev/carcosa/internal/stagingtest"
)

// harness stages in the bucket of an env.
type harness struct{ e *env }

func (h harness) Open(t *testing.T, limit func(handler.FileInfo) int64) stagingtest.Area {
	t.Helper()
	e := *h.e
	e.opts.Limit = limit
	return e.store(t)
}

// Leftovers lists the whole bucket: a store must write nothing outside its
// prefix either.
func (h harness) Leftovers(t *testing.T) []string { return listKeys(t, h.e.b, "") }

// TestConformance runs the staging suite on every kind of bucket, with the
// generic chunk store and, on MinIO, with s3store.
func TestConformance(t *testing.T) {
	for _, kind := range envKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			stagingtest.Run(t, func(t *testing.T) stagingtest.Harness {
				return harness{openEnv(t, kind)}
			})
		})
	}
}
