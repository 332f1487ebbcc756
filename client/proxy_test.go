package client

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A large upload through a proxy that cuts every connection after a random
// number of bytes, either way, ends ready with the SHA-256 of its source,
// and the bytes served back are those bytes. CARCOSA_TEST_CUT_SEED sets the
// seed (the failing seed is logged).
func TestUploadThroughCuttingProxy(t *testing.T) {
	t.Parallel()
	size := int64(256 << 20)
	if testing.Short() {
		size = 32 << 20
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CARCOSA_TEST_CUT_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = n
	}
	t.Logf("seed %d (CARCOSA_TEST_CUT_SEED)", seed)

	tb := setup(t)
	// Chunks of a 16th of the file; up to three chunks from the client and
	// 4 KiB of answers on one connection: creations, chunks, HEADs and
	// answers are all cut somewhere.
	chunk := size / 16
	proxy := newCuttingProxy(t, tb.server.Listener.Addr().String(), seed, 3*chunk, 4<<10)
	c, err := New(proxy.URL()+base, &Options{
		Header:    map[string][]string{"X-User": {"alice"}},
		ChunkSize: chunk,
		Retry:     Retry{Attempts: 20, MinDelay: time.Millisecond, MaxDelay: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := sha256Of(t, newSeededReader(seed, size))

	start := time.Now()
	u, err := c.Upload(t.Context(), "files", "big.bin", newSeededReader(seed, size), size, nil)
	if err != nil {
		t.Fatalf("after %d cuts: %v", proxy.cuts.Load(), err)
	}
	t.Logf("%d MiB through %d cuts in %v; the server read %d MiB of PATCH bodies",
		size>>20, proxy.cuts.Load(), time.Since(start).Round(time.Millisecond), tb.patched.Load()>>20)
	if proxy.cuts.Load() < 3 {
		t.Errorf("only %d cuts", proxy.cuts.Load())
	}
	if u.State != StateReady || u.Size != size || u.SHA256 != want {
		t.Fatalf("record %+v, want SHA-256 %s", u, want)
	}
	// Read back from the server itself, not through the proxy.
	direct := strings.Replace(u.URL, proxy.URL(), tb.server.URL, 1)
	if sum, n := fetchSHA256(t, direct, "alice"); sum != want || n != size {
		t.Fatalf("served %d bytes with SHA-256 %s", n, sum)
	}
}
