package client

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// A bare tus server that checks every chunk's Upload-Checksum and keeps
// nothing: the client's requests are what the checksum extension says, and
// the client's memory does not grow with the file.
func TestUploadChecksumsAndMemory(t *testing.T) {
	// Not parallel: it measures the process's allocations.
	const size = 128 << 20
	var (
		mu      sync.Mutex
		offset  int64
		whole   = sha256.New()
		patches int
		buf     = make([]byte, 64<<10)
	)
	mux := http.NewServeMux()
	mux.HandleFunc("OPTIONS /b/tus/", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Tus-Extension", "creation,termination,checksum")
		w.Header().Set("Tus-Checksum-Algorithm", "md5,sha1,sha256")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /b/tus/", func(w http.ResponseWriter, req *http.Request) {
		meta := map[string]string{}
		for _, kv := range strings.Split(req.Header.Get("Upload-Metadata"), ",") {
			k, v, _ := strings.Cut(kv, " ")
			b, _ := base64.StdEncoding.DecodeString(v)
			meta[k] = string(b)
		}
		if req.Header.Get("Tus-Resumable") != "1.0.0" || req.Header.Get("Upload-Length") != strconv.Itoa(size) ||
			meta["route"] != "files" || meta["filename"] != "big.bin" || meta["input"] != `{"n":1}` {
			t.Errorf("creation %v, metadata %v", req.Header, meta)
		}
		w.Header().Set("Location", "/b/tus/u1")
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("PATCH /b/tus/u1", func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		patches++
		algo, digest, _ := strings.Cut(req.Header.Get("Upload-Checksum"), " ")
		if algo != "sha256" || req.Header.Get("Upload-Offset") != strconv.FormatInt(offset, 10) ||
			req.Header.Get("Content-Type") != "application/offset+octet-stream" {
			t.Errorf("PATCH %v at %d", req.Header, offset)
		}
		h := sha256.New()
		n, err := io.CopyBuffer(io.MultiWriter(h, whole), req.Body, buf)
		if err != nil {
			t.Error(err)
		}
		if got := base64.StdEncoding.EncodeToString(h.Sum(nil)); got != digest {
			t.Errorf("chunk at %d: Upload-Checksum %s, body %s", offset, digest, got)
		}
		offset += n
		w.Header().Set("Upload-Offset", strconv.FormatInt(offset, 10))
		if offset == size {
			w.Header().Set("Upload-State", "ready")
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /b/uploads/u1", func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{
			"id": "u1", "route": "files", "name": "big.bin", "size": offset, "state": "ready",
			"sha256": hex.EncodeToString(whole.Sum(nil)), "url": "/b/files/u1.bin",
		})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := New(srv.URL+"/b", nil)
	if err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	u, err := c.Upload(t.Context(), "files", "big.bin", newSeededReader(5, size), size, &UploadOptions{Input: json.RawMessage(`{"n":1}`)})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if u.State != StateReady || u.URL != srv.URL+"/b/files/u1.bin" || patches != size/DefaultChunkSize {
		t.Fatalf("record %+v after %d PATCHes", u, patches)
	}
	// Client and server together: a few buffers per request, not the file.
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d MiB uploaded with %s allocated", size>>20, fmt.Sprintf("%.1f MiB", float64(alloc)/(1<<20)))
	if alloc > 8<<20 {
		t.Errorf("%d bytes allocated for a %d-byte upload", alloc, size)
	}
}

// A ready record whose SHA-256 is not that of the bytes read is
// ErrDigestMismatch, returned with the record.
func TestDigestMismatch(t *testing.T) {
	t.Parallel()
	var offset int64
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("POST /b/tus/", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Location", "/b/tus/u1")
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("PATCH /b/tus/u1", func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if req.Header.Get("Upload-Checksum") != "" {
			t.Error("a checksum sent to a server that does not offer the extension")
		}
		n, _ := io.Copy(io.Discard, req.Body)
		offset += n
		w.Header().Set("Upload-Offset", strconv.FormatInt(offset, 10))
		w.Header().Set("Upload-State", "ready")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /b/uploads/u1", func(w http.ResponseWriter, req *http.Request) {
		sum := sha256.Sum256([]byte("something else"))
		json.NewEncoder(w).Encode(map[string]any{"id": "u1", "state": "ready", "size": 5, "sha256": hex.EncodeToString(sum[:])})
	})
	srv := httptest.NewServer(mux) // OPTIONS answers 405: no checksum extension
	defer srv.Close()
	c, err := New(srv.URL+"/b", nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.Upload(t.Context(), "files", "a.txt", strings.NewReader("hello"), 5, nil)
	if !errors.Is(err, ErrDigestMismatch) || u == nil || u.ID != "u1" {
		t.Fatalf("%+v, %v", u, err)
	}
}
