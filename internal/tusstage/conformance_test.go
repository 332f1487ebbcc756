package tusstage_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/carcosa-dev/carcosa/internal/stagingtest"
	"github.com/carcosa-dev/carcosa/internal/tusstage"
)

// harness stages in one temporary directory.
type harness struct{ dir string }

func (h harness) Open(t *testing.T, limit func(handler.FileInfo) int64) stagingtest.Area {
	t.Helper()
	s, err := tusstage.New(h.dir, &tusstage.Options{Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (h harness) Leftovers(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestConformance(t *testing.T) {
	stagingtest.Run(t, func(t *testing.T) stagingtest.Harness {
		return harness{dir: filepath.Join(t.TempDir(), "stage")}
	})
}
