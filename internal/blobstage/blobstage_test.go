package blobstage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"
	"golang.org/x/exp/slog"

	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/storage"
	_ "github.com/carcosa-dev/carcosa/storage/s3"
)

const mib = 1 << 20

// env is one kind of bucket the tests run on.
type env struct {
	b    *blob.Bucket
	opts Options
	s3   bool // s3store mode
}

// limitFromMeta is the Limit of every test store: metadata "max".
func limitFromMeta(info handler.FileInfo) int64 {
	v, _ := strconv.ParseInt(info.MetaData["max"], 10, 64)
	return v
}

// store returns a new Store on the env's bucket, as a new process would make.
func (e *env) store(t *testing.T) *Store {
	t.Helper()
	s, err := New(e.b, &e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if (s.s3 != nil) != e.s3 {
		t.Fatalf("s3store mode = %v, want %v", s.s3 != nil, e.s3)
	}
	return s
}

// envKinds are the kinds of bucket: a mem bucket, a file bucket and, when
// CARCOSA_TEST_S3_ENDPOINT is set, MinIO with the generic chunk store and
// with s3store.
var envKinds = []string{"mem", "file", "s3chunks", "s3store"}

// forEachEnv runs fn, in parallel, on each kind of bucket.
func forEachEnv(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, kind := range envKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			fn(t, openEnv(t, kind))
		})
	}
}

// openEnv opens a new, empty bucket of the given kind for t.
func openEnv(t *testing.T, kind string) *env {
	t.Helper()
	base := Options{Limit: limitFromMeta}
	switch kind {
	case "mem":
		b := memblob.OpenBucket(nil)
		t.Cleanup(func() { b.Close() })
		return &env{b: b, opts: base}
	case "file":
		b, err := fileblob.OpenBucket(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return &env{b: b, opts: base}
	}
	endpoint := testenv.S3Endpoint(t)
	name := testenv.TempS3Bucket(t, endpoint)
	sb, err := storage.Open(t.Context(), testenv.S3URL(endpoint, name, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	if kind == "s3chunks" {
		return &env{b: sb.Blob(), opts: base}
	}
	o := base
	o.S3Bucket = name
	o.TempDir = t.TempDir()
	return &env{b: sb.Blob(), opts: o, s3: true}
}

// server serves a tusd handler over s at /files/. Like the Router, its
// pre-create hook chooses the upload's id: 32 lowercase hex characters.
type server struct {
	*httptest.Server
	t       *testing.T
	patched atomic.Int64 // PATCH requests the handler has finished
}

func newServer(t *testing.T, s *Store) *server {
	t.Helper()
	c := handler.NewStoreComposer()
	s.UseIn(c)
	memorylocker.New().UseIn(c)
	h, err := handler.NewHandler(handler.Config{
		BasePath:      "/files/",
		StoreComposer: c,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		PreUploadCreateCallback: func(handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
			id, err := newID()
			return handler.HTTPResponse{}, handler.FileInfoChanges{ID: id}, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &server{t: t}
	files := http.StripPrefix("/files/", h)
	mux := http.NewServeMux()
	mux.HandleFunc("/files/", func(w http.ResponseWriter, r *http.Request) {
		files.ServeHTTP(w, r)
		if r.Method == "PATCH" {
			srv.patched.Add(1)
		}
	})
	srv.Server = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// waitPatched waits until the handler has finished n PATCH requests, so
// that a request the client gave up on is over before the next one starts.
// (A HEAD arriving while a PATCH holds the upload's lock makes tusd interrupt
// that PATCH, a path on which tusd v2.10.0 has a data race of its own.)
func (s *server) waitPatched(n int64) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.patched.Load() < n {
		if time.Now().After(deadline) {
			s.t.Fatalf("%d PATCH requests finished, want %d", s.patched.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *server) do(method, path string, hdr map[string]string, body io.Reader, length int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(s.t.Context(), method, s.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.ContentLength = length
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

func (s *server) mustDo(method, path string, hdr map[string]string, body io.Reader, length int64) *http.Response {
	s.t.Helper()
	resp, err := s.do(method, path, hdr, body, length)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// create POSTs a new upload and returns its id and the response status. size
// -1 defers the length; -2 sends no length (a final concatenation).
func (s *server) create(size int64, meta map[string]string, hdr map[string]string) (string, int) {
	s.t.Helper()
	h := map[string]string{}
	for k, v := range hdr {
		h[k] = v
	}
	if size >= 0 {
		h["Upload-Length"] = strconv.FormatInt(size, 10)
	} else if size == -1 {
		h["Upload-Defer-Length"] = "1"
	}
	if len(meta) > 0 {
		var parts []string
		for k, v := range meta {
			parts = append(parts, k+" "+b64(v))
		}
		h["Upload-Metadata"] = strings.Join(parts, ",")
	}
	resp := s.mustDo("POST", "/files/", h, nil, 0)
	if resp.StatusCode != http.StatusCreated {
		return "", resp.StatusCode
	}
	loc := resp.Header.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		s.t.Fatalf("upload URL %q does not end in a 32-hex id", loc)
	}
	return id, resp.StatusCode
}

func (s *server) mustCreate(size int64, meta map[string]string) string {
	s.t.Helper()
	id, code := s.create(size, meta, nil)
	if code != http.StatusCreated {
		s.t.Fatalf("POST: status %d", code)
	}
	return id
}

// patch sends data at offset and returns the status and the new offset.
func (s *server) patch(id string, offset int64, data []byte, hdr map[string]string) (int, int64) {
	s.t.Helper()
	h := map[string]string{
		"Content-Type":  "application/offset+octet-stream",
		"Upload-Offset": strconv.FormatInt(offset, 10),
	}
	for k, v := range hdr {
		h[k] = v
	}
	resp := s.mustDo("PATCH", "/files/"+id, h, bytes.NewReader(data), int64(len(data)))
	off, _ := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	return resp.StatusCode, off
}

func (s *server) mustPatch(id string, offset int64, data []byte) int64 {
	s.t.Helper()
	code, off := s.patch(id, offset, data, nil)
	if code != http.StatusNoContent {
		s.t.Fatalf("PATCH %s at %d: status %d", id, offset, code)
	}
	if off != offset+int64(len(data)) {
		s.t.Fatalf("PATCH %s at %d: offset %d, want %d", id, offset, off, offset+int64(len(data)))
	}
	return off
}

// head returns the upload's offset, or -1 if HEAD fails.
func (s *server) head(id string) int64 {
	s.t.Helper()
	resp := s.mustDo("HEAD", "/files/"+id, nil, nil, 0)
	if resp.StatusCode != http.StatusOK {
		return -1
	}
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		s.t.Fatal(err)
	}
	return off
}

// upload sends data in chunks of the given sizes (the rest last).
func (s *server) upload(id string, data []byte, sizes ...int) {
	s.t.Helper()
	var off int64
	for _, n := range sizes {
		off = s.mustPatch(id, off, data[off:off+int64(n)])
	}
	if off < int64(len(data)) {
		s.mustPatch(id, off, data[off:])
	}
}

func b64(s string) string {
	const enc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var out strings.Builder
	b := []byte(s)
	for i := 0; i < len(b); i += 3 {
		var v uint32
		n := min(3, len(b)-i)
		for j := 0; j < 3; j++ {
			v <<= 8
			if j < n {
				v |= uint32(b[i+j])
			}
		}
		for j := 0; j < 4; j++ {
			if j <= n {
				out.WriteByte(enc[(v>>(18-6*j))&63])
			} else {
				out.WriteByte('=')
			}
		}
	}
	return out.String()
}

func payload(seed byte, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// listKeys lists the keys of b under prefix.
func listKeys(t *testing.T, b *blob.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(context.Background())
		if err == io.EOF {
			return keys
		}
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, obj.Key)
	}
}

func assertDigest(t *testing.T, s *Store, id string, data []byte) {
	t.Helper()
	sum, size, err := s.Digest(t.Context(), id)
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	if size != int64(len(data)) || sum != sha256.Sum256(data) {
		t.Fatalf("Digest = %x, %d; want %x, %d", sum, size, sha256.Sum256(data), len(data))
	}
}

func assertObject(t *testing.T, b *blob.Bucket, key string, data []byte, contentType string) {
	t.Helper()
	got, err := b.ReadAll(t.Context(), key)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	if len(got) != len(data) || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("%s: %d bytes with another content, want %d bytes", key, len(got), len(data))
	}
	if contentType != "" {
		a, err := b.Attributes(t.Context(), key)
		if err != nil {
			t.Fatal(err)
		}
		if a.ContentType != contentType {
			t.Fatalf("%s: content type %q, want %q", key, a.ContentType, contentType)
		}
	}
}

// stateOffset returns the offset the saved hash state covers, or -1.
func stateOffset(t *testing.T, s *Store, id string) int64 {
	t.Helper()
	st, err := s.loadState(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if st == nil {
		return -1
	}
	return st.offset
}

// Commit into the store's own bucket: a server-side copy of a single
// object where the content type allows, else streamed; the hash state
// covers the whole upload once it is finished.
func TestCommitSameBucket(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		s := e.store(t)
		srv := newServer(t, s)
		same := storage.NewBucket(e.b) // not closed: e owns the bucket

		data := payload(1, 7*mib+12345)
		id := srv.mustCreate(int64(len(data)), nil)
		srv.upload(id, data, 1*mib, 3*mib)
		if got := stateOffset(t, s, id); got != int64(len(data)) {
			t.Fatalf("hash state covers %d bytes, want %d", got, len(data))
		}
		if err := s.Commit(ctx, id, same, "files/a.bin", &storage.PutOptions{ContentType: "image/png"}); err != nil {
			t.Fatal(err)
		}
		assertObject(t, e.b, "files/a.bin", data, "image/png")

		// A one-chunk upload is a single object.
		small := payload(2, 70000)
		id2 := srv.mustCreate(int64(len(small)), nil)
		srv.upload(id2, small)
		for _, ct := range []string{"", "text/plain"} {
			key := "files/small" + strings.ReplaceAll(ct, "/", "-")
			if err := s.Commit(ctx, id2, same, key, &storage.PutOptions{ContentType: ct}); err != nil {
				t.Fatal(err)
			}
			want := ct
			if want == "" {
				want = "application/octet-stream"
			}
			assertObject(t, e.b, key, small, want)
		}
		for _, id := range []string{id, id2} {
			if err := s.Remove(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		if keys := listKeys(t, e.b, DefaultPrefix); len(keys) != 0 {
			t.Fatalf("left after Remove: %v", keys)
		}
	})
}

// 2. Another process (a new Store and handler on the same bucket) resumes an
// upload and the hash state it finds in the bucket carries the digest on.
func TestRestart(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		data := payload(3, 6*mib+77)

		s1 := e.store(t)
		srv1 := newServer(t, s1)
		id := srv1.mustCreate(int64(len(data)), nil)
		off := srv1.mustPatch(id, 0, data[:2*mib])
		off = srv1.mustPatch(id, off, data[off:off+3*mib+5])
		srv1.Close()

		s2 := e.store(t)
		srv2 := newServer(t, s2)
		if got := srv2.head(id); got != off {
			t.Fatalf("HEAD on the new process: offset %d, want %d", got, off)
		}
		if got := stateOffset(t, s2, id); got != off {
			t.Fatalf("hash state in the bucket covers %d, want %d", got, off)
		}
		srv2.mustPatch(id, off, data[off:])
		if got := stateOffset(t, s2, id); got != int64(len(data)) {
			t.Fatalf("hash state not carried across: covers %d, want %d", got, len(data))
		}
		assertDigest(t, s2, id, data)
		// The first process sees the result too.
		assertDigest(t, s1, id, data)
		if err := s2.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
	})
}

// cutReader gives n bytes of r, then fails.
type cutReader struct {
	r io.Reader
	n int
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errors.New("connection cut")
	}
	if len(p) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

// 3. A PATCH whose body breaks off midway keeps what arrived; the upload
// resumes from there to the right digest.
func TestCutPatch(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		s := e.store(t)
		srv := newServer(t, s)
		data := payload(4, 6*mib+3)
		id := srv.mustCreate(int64(len(data)), nil)
		off := srv.mustPatch(id, 0, data[:mib])

		const cut = 3 * mib
		rest := data[off:]
		_, err := srv.do("PATCH", "/files/"+id, map[string]string{
			"Content-Type":  "application/offset+octet-stream",
			"Upload-Offset": strconv.FormatInt(off, 10),
		}, &cutReader{r: bytes.NewReader(rest), n: cut}, int64(len(rest)))
		if err == nil {
			t.Fatal("the cut PATCH succeeded")
		}
		srv.waitPatched(2)
		got := srv.head(id)
		if got <= off || got > off+cut {
			t.Fatalf("offset after the cut: %d, want in (%d, %d]", got, off, off+cut)
		}
		srv.mustPatch(id, got, data[got:])
		assertDigest(t, s, id, data)
		if got := stateOffset(t, s, id); got != int64(len(data)) {
			t.Fatalf("hash state covers %d after the cut, want %d", got, len(data))
		}
		if err := s.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
	})
}

// 4. A deleted or stale hash state only costs a re-read: the digest is right.
func TestLostHashState(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		s := e.store(t)
		srv := newServer(t, s)

		t.Run("deleted", func(t *testing.T) {
			data := payload(5, 6*mib+1)
			id := srv.mustCreate(int64(len(data)), nil)
			off := srv.mustPatch(id, 0, data[:mib])
			if err := e.b.Delete(ctx, s.stateKey(id)); err != nil {
				t.Fatal(err)
			}
			off = srv.mustPatch(id, off, data[off:off+mib])
			if got := stateOffset(t, s, id); got != -1 {
				t.Fatalf("a state covering %d appeared after the state was lost", got)
			}
			srv.mustPatch(id, off, data[off:])
			assertDigest(t, s, id, data)
			if got := stateOffset(t, s, id); got != int64(len(data)) {
				t.Fatalf("Digest saved no state: %d", got)
			}
			assertDigest(t, s, id, data) // from the saved state
			if err := s.Remove(ctx, id); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("stale", func(t *testing.T) {
			data := payload(6, 2*mib+9)
			id := srv.mustCreate(int64(len(data)), nil)
			off := srv.mustPatch(id, 0, data[:mib])
			// A state claiming more than the data holds, with a wrong hash,
			// as if left by a write whose chunk never landed.
			h := sha256.New()
			h.Write([]byte("not the data"))
			if err := s.saveState(ctx, id, off+100, h); err != nil {
				t.Fatal(err)
			}
			srv.mustPatch(id, off, data[off:])
			assertDigest(t, s, id, data)
			if err := s.Remove(ctx, id); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// Remove on S3 also finds the multipart upload of an upload whose .info is
// already gone.
func TestRemoveWithoutInfo(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		if !e.s3 {
			t.Skip("s3store only")
		}
		ctx := t.Context()
		s := e.store(t)
		srv := newServer(t, s)
		id := srv.mustCreate(10*mib, nil)
		srv.mustPatch(id, 0, payload(21, 6*mib))
		if err := e.b.Delete(ctx, s.infoKey(id)); err != nil {
			t.Fatal(err)
		}
		if err := e.store(t).Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
		if keys := listKeys(t, e.b, ""); len(keys) != 0 {
			t.Fatalf("left in the bucket: %v", keys)
		}
	})
}

// Keys: chunk names, and a prefix without its slash. (Invalid ids are in
// the suite.)
func TestKeys(t *testing.T) {
	s, err := New(memblob.OpenBucket(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.chunkKey("x", 42); got != DefaultPrefix+"x/00000000000000000042" {
		t.Errorf("chunk key %q", got)
	}
	s2, _ := New(memblob.OpenBucket(nil), &Options{Prefix: "tus"})
	if s2.infoKey("x") != "tus/x.info" {
		t.Errorf("prefix without slash: %q", s2.infoKey("x"))
	}
}

// A generated id is 32 characters without s3store's "+", and an empty
// chunk writes no object. (Broken bodies are in the suite.)
func TestWriteChunkDirect(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		s := e.store(t)
		up, err := s.NewUpload(ctx, handler.FileInfo{Size: 10})
		if err != nil {
			t.Fatal(err)
		}
		info, err := up.GetInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id := info.ID
		if len(id) != 32 || strings.Contains(id, "+") {
			t.Fatalf("generated id %q", id)
		}
		before := len(listKeys(t, e.b, DefaultPrefix))
		if n, err := up.WriteChunk(ctx, 0, bytes.NewReader(nil)); n != 0 || err != nil {
			t.Fatalf("empty chunk: %d, %v", n, err)
		}
		if after := len(listKeys(t, e.b, DefaultPrefix)); after != before {
			t.Fatalf("an empty chunk added %d objects", after-before)
		}
		if err := s.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
	})
}

// The generic store counts only the run of chunks from offset 0: a chunk
// after a gap or overlapping the run is ignored, and deleted by the next
// write.
func TestStrayChunks(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		if e.s3 {
			t.Skip("generic chunk store only")
		}
		ctx := t.Context()
		s := e.store(t)
		srv := newServer(t, s)
		data := payload(31, 3000)
		id := srv.mustCreate(int64(len(data)), nil)
		srv.mustPatch(id, 0, data[:1000])
		for _, off := range []int64{500, 2500} {
			if err := e.b.WriteAll(ctx, s.chunkKey(id, off), []byte("0123456789"), nil); err != nil {
				t.Fatal(err)
			}
		}
		if got := srv.head(id); got != 1000 {
			t.Fatalf("offset with stray chunks: %d, want 1000", got)
		}
		srv.mustPatch(id, 1000, data[1000:2500])
		if keys := listKeys(t, e.b, s.chunkDir(id)); len(keys) != 2 {
			t.Fatalf("chunks after a write: %v", keys)
		}
		srv.mustPatch(id, 2500, data[2500:])
		assertDigest(t, s, id, data)
		if err := s.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
	})
}

// An upload whose bytes all arrived but whose FinishUpload never ran (the
// process stopped in between) is completed by the next process's Complete,
// and then digests and commits.
func TestFinishAfterStop(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		data := payload(40, 6*mib+11)
		s1 := e.store(t)
		up, err := s1.NewUpload(ctx, handler.FileInfo{ID: "stopped-upload", Size: int64(len(data))})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := up.WriteChunk(ctx, 0, bytes.NewReader(data)); err != nil || n != int64(len(data)) {
			t.Fatalf("WriteChunk: %d, %v", n, err)
		}
		if e.s3 {
			if ok, err := e.b.Exists(ctx, s1.objectKey("stopped-upload")); ok || err != nil {
				t.Fatalf("object exists before completion: %v, %v", ok, err)
			}
		}
		s2 := e.store(t)
		if !s2.Complete(ctx, "stopped-upload") {
			t.Fatal("not Complete")
		}
		assertDigest(t, s2, "stopped-upload", data)
		other := storage.NewBucket(memblob.OpenBucket(nil))
		defer other.Close()
		if err := s2.Commit(ctx, "stopped-upload", other, "x", nil); err != nil {
			t.Fatal(err)
		}
		assertObject(t, other.Blob(), "x", data, "application/octet-stream")
		if err := s2.Remove(ctx, "stopped-upload"); err != nil {
			t.Fatal(err)
		}
	})
}

// Commit copies server-side only where the copy gets the wanted content
// type: always on S3, elsewhere when the staged object already has it.
func TestCopyDecision(t *testing.T) {
	ctx := t.Context()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	s, err := New(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, "src", []byte("abc"), writerOpts); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.copyObject(ctx, "dst1", "src", "text/plain"); ok || err != nil {
		t.Fatalf("copy with another content type on mem: %v, %v", ok, err)
	}
	if ok, err := s.copyObject(ctx, "dst2", "src", ""); !ok || err != nil {
		t.Fatalf("copy with the same content type: %v, %v", ok, err)
	}
	assertObject(t, b, "dst2", []byte("abc"), "application/octet-stream")
}
