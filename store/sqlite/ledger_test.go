package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/carcosa-dev/carcosa/store/storetest"
)

// BenchmarkQuotaReserve measures Reserve with 100 concurrent creators, on
// one owner and one tenant, and each on its own.
func BenchmarkQuotaReserve(b *testing.B) {
	for _, shared := range []bool{true, false} {
		b.Run(map[bool]string{true: "shared", false: "apart"}[shared], func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "carcosa.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			storetest.BenchmarkReserve(b, s, 100, shared)
		})
	}
}
