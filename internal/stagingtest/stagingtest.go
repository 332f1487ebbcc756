// Package stagingtest is the conformance suite for staging areas: the
// places resumable uploads stay until they are finished, internal/tusstage
// on local disk and internal/blobstage in a bucket. Each implementation's
// tests call Run with a Harness, as gocloud's drivers call
// drivertest.RunConformanceTests, so that the contract the Router relies on
// (its stagingArea interface) is tested once for all of them.
//
// The suite reaches the tus side of an area through tusd's own interfaces,
// as the handler does: UseIn fills a StoreComposer, and uploads are made
// with its Core, Terminater, Concater and LengthDeferrer.
package stagingtest

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
	"sync"
	"testing"
	"testing/iotest"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"gocloud.dev/blob/memblob"
	"golang.org/x/exp/slog"

	"github.com/carcosa-dev/carcosa/internal/staging"
	"github.com/carcosa-dev/carcosa/internal/tusstage"
	"github.com/carcosa-dev/carcosa/storage"
)

// Area is what the suite tests: the Router's staging contract, which
// *tusstage.Store and *blobstage.Store have as they are.
type Area = staging.Area

// Harness makes staging areas over one place (a directory, a bucket) for
// one test. Run calls its MakeHarness once per test.
type Harness interface {
	// Open returns a staging area over the harness's place whose Options'
	// Limit is limit. Opening again returns a second area over the same
	// data, as a restarted process, or another instance, would open it.
	Open(t *testing.T, limit func(handler.FileInfo) int64) Area
	// Leftovers lists what is left in the harness's place (file names,
	// object keys), so that the suite can check that an area removes
	// everything it wrote.
	Leftovers(t *testing.T) []string
}

// MakeHarness returns a Harness over a new, empty place. Tests run in
// parallel, each with its own harness.
type MakeHarness func(t *testing.T) Harness

// mib is the size of the larger uploads: several of them exceed S3's
// minimum part size of 5 MiB, so that an S3 area writes whole parts as
// well as the buffer of a short one.
const mib = 1 << 20

// Limit is the limit function the suite opens areas with: the metadata
// field "max", as the Router takes a route's limit from the route named
// in the metadata. Without it an upload has no limit.
func Limit(info handler.FileInfo) int64 {
	n, _ := strconv.ParseInt(info.MetaData["max"], 10, 64)
	return n
}

// Run runs the suite.
func Run(t *testing.T, mh MakeHarness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"ChunksAtOffsets", testChunksAtOffsets},
		{"DeferredLength", testDeferredLength},
		{"BrokenBody", testBrokenBody},
		{"States", testStates},
		{"Limit", testLimit},
		{"Restart", testRestart},
		{"Commit", testCommit},
		{"Concat", testConcat},
		{"Terminate", testTerminate},
		{"Remove", testRemove},
		{"InvalidIDs", testInvalidIDs},
		{"Concurrent", testConcurrent},
		{"HTTP", testHTTP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, mh(t))
		})
	}
}

// tus is an area seen through tusd's interfaces.
type tus struct {
	Area
	c *handler.StoreComposer
}

func open(t *testing.T, h Harness) tus {
	t.Helper()
	a := h.Open(t, Limit)
	t.Cleanup(a.Flush)
	c := handler.NewStoreComposer()
	a.UseIn(c)
	if !c.UsesTerminater || !c.UsesConcater || !c.UsesLengthDeferrer {
		t.Fatal("UseIn did not register a terminater, concater and length deferrer")
	}
	if c.UsesContentServer {
		t.Fatal("UseIn registered a content server: staged bytes must not be served")
	}
	return tus{a, c}
}

// create makes an upload and returns its id.
func (a tus) create(t *testing.T, info handler.FileInfo) string {
	t.Helper()
	u, err := a.c.Core.NewUpload(t.Context(), info)
	if err != nil {
		t.Fatalf("NewUpload: %v", err)
	}
	got, err := u.GetInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == "" || got.Offset != 0 {
		t.Fatalf("new upload: id %q, offset %d", got.ID, got.Offset)
	}
	return got.ID
}

// get is GetUpload and GetInfo, which tusd calls at the start of every
// request about an upload.
func (a tus) get(t *testing.T, id string) (handler.Upload, handler.FileInfo) {
	t.Helper()
	u, err := a.c.Core.GetUpload(t.Context(), id)
	if err != nil {
		t.Fatalf("GetUpload(%s): %v", id, err)
	}
	info, err := u.GetInfo(t.Context())
	if err != nil {
		t.Fatalf("GetInfo(%s): %v", id, err)
	}
	return u, info
}

// write writes src at offset as one PATCH would: it fetches the upload
// afresh, checks its offset, writes, and finishes the upload when the
// chunk completes it. It returns the bytes written and WriteChunk's error.
func (a tus) write(t *testing.T, id string, offset int64, src []byte) (int64, error) {
	t.Helper()
	ctx := t.Context()
	u, info := a.get(t, id)
	if info.Offset != offset {
		t.Fatalf("offset before a write: %d, want %d", info.Offset, offset)
	}
	n, werr := u.WriteChunk(ctx, offset, iotest.HalfReader(bytes.NewReader(src)))
	u, info = a.get(t, id)
	if info.Offset != offset+n {
		t.Fatalf("GetInfo after writing %d bytes at %d: offset %d", n, offset, info.Offset)
	}
	if off, err := a.Offset(ctx, id); err != nil || off != info.Offset {
		t.Fatalf("Offset = %d, %v; GetInfo says %d", off, err, info.Offset)
	}
	if werr == nil && !info.SizeIsDeferred && info.Offset == info.Size {
		if err := u.FinishUpload(ctx); err != nil {
			t.Fatalf("FinishUpload: %v", err)
		}
	}
	return n, werr
}

// upload writes data from offset from in chunks of the given sizes (the
// last chunk takes the rest).
func (a tus) upload(t *testing.T, id string, from int64, data []byte, sizes ...int) {
	t.Helper()
	off := from
	for i := 0; off < int64(len(data)); i++ {
		end := int64(len(data))
		if i < len(sizes) && off+int64(sizes[i]) < end {
			end = off + int64(sizes[i])
		}
		n, err := a.write(t, id, off, data[off:end])
		if err != nil || n != end-off {
			t.Fatalf("chunk %d at %d: wrote %d of %d: %v", i, off, n, end-off, err)
		}
		off = end
	}
}

func (a tus) declare(t *testing.T, id string, size int64) error {
	t.Helper()
	u, _ := a.get(t, id)
	return a.c.LengthDeferrer.AsLengthDeclarableUpload(u).DeclareLength(t.Context(), size)
}

func (a tus) assertDigest(t *testing.T, id string, data []byte) {
	t.Helper()
	sum, size, err := a.Digest(t.Context(), id)
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	if size != int64(len(data)) || sum != sha256.Sum256(data) {
		t.Fatalf("Digest = %x, %d; want %x, %d", sum, size, sha256.Sum256(data), len(data))
	}
}

func (a tus) assertHead(t *testing.T, id string, data []byte, ns ...int) {
	t.Helper()
	for _, n := range ns {
		h, err := a.Head(t.Context(), id, n)
		want := data[:min(n, len(data))]
		if err != nil || !bytes.Equal(h, want) {
			t.Fatalf("Head(%d): %d bytes (want %d), %v", n, len(h), len(want), err)
		}
	}
}

// assertStates checks Has, Complete and HoldsBytes.
func (a tus) assertStates(t *testing.T, id string, has, complete, holds bool) {
	t.Helper()
	ctx := t.Context()
	if got := a.Has(ctx, id); got != has {
		t.Errorf("Has = %v, want %v", got, has)
	}
	if got := a.Complete(ctx, id); got != complete {
		t.Errorf("Complete = %v, want %v", got, complete)
	}
	if got := a.HoldsBytes(ctx, id); got != holds {
		t.Errorf("HoldsBytes = %v, want %v", got, holds)
	}
	if t.Failed() {
		t.FailNow()
	}
}

func (a tus) remove(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := a.Remove(t.Context(), id); err != nil {
			t.Fatalf("Remove(%s): %v", id, err)
		}
	}
}

func assertEmpty(t *testing.T, h Harness, a Area) {
	t.Helper()
	a.Flush()
	if left := h.Leftovers(t); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func payload(seed byte, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

func meta(kv ...string) handler.MetaData {
	m := handler.MetaData{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// An upload of known length written in uneven chunks at increasing offsets:
// GetInfo and Offset follow each chunk, and the digest and head are those
// of the bytes written.
func testChunksAtOffsets(t *testing.T, h Harness) {
	a := open(t, h)
	for _, sizes := range [][]int{
		{1, 4095, mib + 7, 3*mib - 13, 17},
		nil, // one chunk
	} {
		data := payload(1, 7*mib+5)
		id := a.create(t, handler.FileInfo{Size: int64(len(data)), MetaData: meta("filename", "a.bin")})
		a.upload(t, id, 0, data, sizes...)
		_, info := a.get(t, id)
		if info.Size != int64(len(data)) || info.SizeIsDeferred || info.MetaData["filename"] != "a.bin" {
			t.Fatalf("info after the upload: size %d, deferred %v, metadata %v", info.Size, info.SizeIsDeferred, info.MetaData)
		}
		a.assertDigest(t, id, data)
		a.assertDigest(t, id, data) // twice: a saved state is reused
		a.assertHead(t, id, data, 0, 1, 512, 3*mib, len(data)+100)
		a.remove(t, id)
	}
	assertEmpty(t, h, a)
}

// An upload whose length is declared late: no digest before the length is
// known, the right one after.
func testDeferredLength(t *testing.T, h Harness) {
	a := open(t, h)
	ctx := t.Context()
	data := payload(2, 6*mib+3)
	id := a.create(t, handler.FileInfo{SizeIsDeferred: true})
	a.upload(t, id, 0, data, mib/2+1, 2*mib+3, 999)
	a.assertStates(t, id, true, false, true)
	if _, _, err := a.Digest(ctx, id); !errors.Is(err, tusstage.ErrNotFinished) {
		t.Fatalf("Digest before the length is declared: %v, want ErrNotFinished", err)
	}
	if err := a.declare(t, id, int64(len(data))); err != nil {
		t.Fatalf("DeclareLength: %v", err)
	}
	u, info := a.get(t, id)
	if info.SizeIsDeferred || info.Size != int64(len(data)) {
		t.Fatalf("after DeclareLength: deferred %v, size %d", info.SizeIsDeferred, info.Size)
	}
	if err := u.FinishUpload(ctx); err != nil {
		t.Fatalf("FinishUpload: %v", err)
	}
	a.assertStates(t, id, true, true, true)
	a.assertDigest(t, id, data)
	a.assertHead(t, id, data, 100)
	a.remove(t, id)
	assertEmpty(t, h, a)
}

// brokenReader gives n bytes of r, then fails with errBroken.
type brokenReader struct {
	r io.Reader
	n int
}

var errBroken = errors.New("connection cut")

func (b *brokenReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errBroken
	}
	n, err := b.r.Read(p[:min(len(p), b.n, 3333)])
	b.n -= n
	return n, err
}

// A chunk whose body breaks off keeps what arrived, as tus does: WriteChunk
// returns the count with the read error, the offset is there, and the
// upload resumes from it to the right digest. An empty chunk writes
// nothing.
func testBrokenBody(t *testing.T, h Harness) {
	a := open(t, h)
	ctx := t.Context()
	data := payload(6, 3*mib)
	id := a.create(t, handler.FileInfo{Size: int64(len(data))})
	u, _ := a.get(t, id)
	if n, err := u.WriteChunk(ctx, 0, bytes.NewReader(nil)); n != 0 || err != nil {
		t.Fatalf("empty chunk: %d, %v", n, err)
	}
	const cut = mib + 7
	u, _ = a.get(t, id)
	if n, err := u.WriteChunk(ctx, 0, &brokenReader{r: bytes.NewReader(data), n: cut}); n != cut || !errors.Is(err, errBroken) {
		t.Fatalf("broken chunk: wrote %d, %v; want %d and the read error", n, err, cut)
	}
	if off, err := a.Offset(ctx, id); err != nil || off != cut {
		t.Fatalf("Offset after the break: %d, %v; want %d", off, err, cut)
	}
	a.upload(t, id, cut, data)
	a.assertDigest(t, id, data)
	a.remove(t, id)
	assertEmpty(t, h, a)
}

// Has, Complete, HoldsBytes and Offset through an upload's life.
func testStates(t *testing.T, h Harness) {
	a := open(t, h)
	ctx := t.Context()
	const unknown = "0123456789abcdef0123456789abcdef"
	a.assertStates(t, unknown, false, false, false)
	if _, err := a.Offset(ctx, unknown); !errors.Is(err, handler.ErrNotFound) {
		t.Fatalf("Offset of an unknown upload: %v, want ErrNotFound", err)
	}
	if _, err := a.c.Core.GetUpload(ctx, unknown); !errors.Is(err, handler.ErrNotFound) {
		t.Fatalf("GetUpload of an unknown upload: %v, want ErrNotFound", err)
	}

	data := payload(3, 3000)
	id := a.create(t, handler.FileInfo{Size: int64(len(data))})
	a.assertStates(t, id, true, false, true)
	if off, err := a.Offset(ctx, id); err != nil || off != 0 {
		t.Fatalf("Offset of a new upload: %d, %v", off, err)
	}
	if _, _, err := a.Digest(ctx, id); !errors.Is(err, tusstage.ErrNotFinished) {
		t.Fatalf("Digest of a new upload: %v, want ErrNotFinished", err)
	}
	a.upload(t, id, 0, data[:1000])
	a.assertStates(t, id, true, false, true)
	if _, _, err := a.Digest(ctx, id); !errors.Is(err, tusstage.ErrNotFinished) {
		t.Fatalf("Digest of a part: %v, want ErrNotFinished", err)
	}
	a.upload(t, id, 1000, data)
	a.assertStates(t, id, true, true, true)
	if off, err := a.Offset(ctx, id); err != nil || off != int64(len(data)) {
		t.Fatalf("Offset of a complete upload: %d, %v", off, err)
	}

	// A preset id, as the Router's pre-create hook chooses.
	const preset = "fedcba9876543210fedcba9876543210"
	if got := a.create(t, handler.FileInfo{ID: preset, Size: 1}); got != preset {
		t.Fatalf("NewUpload with id %s made %s", preset, got)
	}

	// A partial upload with all its bytes is not complete: only the final
	// upload it goes into is.
	p := a.create(t, handler.FileInfo{Size: 10, IsPartial: true})
	a.upload(t, p, 0, data[:10])
	a.assertStates(t, p, true, false, true)

	a.remove(t, id, preset, p)
	for _, id := range []string{id, preset, p} {
		a.assertStates(t, id, false, false, false)
		if _, err := a.Offset(ctx, id); !errors.Is(err, handler.ErrNotFound) {
			t.Fatalf("Offset of a removed upload: %v, want ErrNotFound", err)
		}
	}
	assertEmpty(t, h, a)
}

// The limit the area's limit function gives an upload: refused at
// creation, when declared, and while streaming a deferred upload, which
// keeps the bytes up to the limit.
func testLimit(t *testing.T, h Harness) {
	a := open(t, h)
	ctx := t.Context()
	limited := meta("max", "1000")
	data := payload(4, 2000)

	if _, err := a.c.Core.NewUpload(ctx, handler.FileInfo{Size: 1001, MetaData: limited}); !errors.Is(err, tusstage.ErrTooLarge) {
		t.Fatalf("NewUpload over the limit: %v, want ErrTooLarge", err)
	}
	assertEmpty(t, h, a)

	at := a.create(t, handler.FileInfo{Size: 1000, MetaData: limited})
	a.upload(t, at, 0, data[:1000], 600)
	a.assertDigest(t, at, data[:1000])

	free := a.create(t, handler.FileInfo{Size: 2000})
	a.upload(t, free, 0, data)
	a.assertDigest(t, free, data)

	t.Run("streamed", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			chunks []int
			wantN  []int64
		}{
			{"one chunk over", []int{1500}, []int64{1000}},
			{"second chunk crosses", []int{600, 600}, []int64{600, 400}},
			{"one byte past a full upload", []int{1000, 1}, []int64{1000, 0}},
		} {
			id := a.create(t, handler.FileInfo{SizeIsDeferred: true, MetaData: limited})
			var off int64
			var err error
			for i, size := range c.chunks {
				var n int64
				n, err = a.write(t, id, off, data[off:off+int64(size)])
				if n != c.wantN[i] {
					t.Fatalf("%s: chunk %d wrote %d, want %d", c.name, i, n, c.wantN[i])
				}
				if i < len(c.chunks)-1 && err != nil {
					t.Fatalf("%s: chunk %d: %v", c.name, i, err)
				}
				off += n
			}
			if !errors.Is(err, tusstage.ErrTooLarge) || errors.Is(err, handler.ErrSizeExceeded) {
				t.Fatalf("%s: %v, want ErrTooLarge and not tusd's ErrSizeExceeded", c.name, err)
			}
			// What was kept is whole: declared, it is complete with the
			// digest of the bytes up to the limit.
			if err := a.declare(t, id, off); err != nil {
				t.Fatalf("%s: DeclareLength(%d): %v", c.name, off, err)
			}
			u, _ := a.get(t, id)
			if err := u.FinishUpload(ctx); err != nil {
				t.Fatal(err)
			}
			a.assertDigest(t, id, data[:off])
			a.remove(t, id)
		}
	})

	t.Run("declared", func(t *testing.T) {
		id := a.create(t, handler.FileInfo{SizeIsDeferred: true, MetaData: limited})
		a.upload(t, id, 0, data[:10])
		if err := a.declare(t, id, 1001); !errors.Is(err, tusstage.ErrTooLarge) {
			t.Fatalf("DeclareLength over the limit: %v, want ErrTooLarge", err)
		}
		if _, info := a.get(t, id); !info.SizeIsDeferred {
			t.Fatal("a refused length was recorded")
		}
		if err := a.declare(t, id, 1000); err != nil {
			t.Fatalf("DeclareLength at the limit: %v", err)
		}
		a.upload(t, id, 10, data[:1000])
		a.assertDigest(t, id, data[:1000])
		a.remove(t, id)
	})

	a.remove(t, at, free)
	assertEmpty(t, h, a)
}

// A second area over the same data, as after a restart or on another
// instance, resumes an upload where the first left it, and the digest
// covers the bytes both wrote. A limit holds across the restart.
func testRestart(t *testing.T, h Harness) {
	ctx := t.Context()
	data := payload(5, 6*mib+77)

	a1 := open(t, h)
	id := a1.create(t, handler.FileInfo{Size: int64(len(data))})
	a1.upload(t, id, 0, data[:5*mib+5], 2*mib)
	limited := a1.create(t, handler.FileInfo{SizeIsDeferred: true, MetaData: meta("max", "1000")})
	a1.upload(t, limited, 0, data[:600])
	a1.Flush()

	a2 := open(t, h)
	if off, err := a2.Offset(ctx, id); err != nil || off != 5*mib+5 {
		t.Fatalf("Offset after reopening: %d, %v; want %d", off, err, 5*mib+5)
	}
	a2.assertStates(t, id, true, false, true)
	a2.upload(t, id, 5*mib+5, data)
	a2.assertStates(t, id, true, true, true)
	a2.assertDigest(t, id, data)
	a2.assertHead(t, id, data, 4096)
	a1.assertDigest(t, id, data)

	if n, err := a2.write(t, limited, 600, data[600:1200]); n != 400 || !errors.Is(err, tusstage.ErrTooLarge) {
		t.Fatalf("past the limit after reopening: wrote %d, %v; want 400, ErrTooLarge", n, err)
	}

	// A finished upload's digest, read by a third area.
	a2.Flush()
	a3 := open(t, h)
	a3.assertDigest(t, id, data)
	a3.remove(t, id, limited)
	assertEmpty(t, h, a3)
}

// Commit puts a complete upload's bytes into storage; whether it moved or
// copied them, Has holds until Remove, and Remove leaves nothing.
func testCommit(t *testing.T, h Harness) {
	a := open(t, h)
	ctx := t.Context()
	dst := storage.NewBucket(memblob.OpenBucket(nil))
	t.Cleanup(func() { dst.Close() })

	unfinished := a.create(t, handler.FileInfo{Size: 100})
	a.upload(t, unfinished, 0, payload(6, 10))
	if err := a.Commit(ctx, unfinished, dst, "x", nil); !errors.Is(err, tusstage.ErrNotFinished) {
		t.Fatalf("Commit of an unfinished upload: %v, want ErrNotFinished", err)
	}

	for i, size := range []int{0, 70000, 6*mib + 3} {
		data := payload(byte(7+i), size)
		id := a.create(t, handler.FileInfo{Size: int64(size)})
		if size == 0 {
			u, _ := a.get(t, id)
			if err := u.FinishUpload(ctx); err != nil {
				t.Fatalf("FinishUpload of an empty upload: %v", err)
			}
		}
		a.upload(t, id, 0, data, 2*mib)
		a.assertStates(t, id, true, true, true)
		a.assertDigest(t, id, data)
		key := "route/" + id
		if err := a.Commit(ctx, id, dst, key, &storage.PutOptions{ContentType: "image/png", Size: int64(size)}); err != nil {
			t.Fatalf("Commit of %d bytes: %v", size, err)
		}
		got, err := dst.Blob().ReadAll(ctx, key)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("committed %d bytes: read %d, %v", size, len(got), err)
		}
		if attr, err := dst.Blob().Attributes(ctx, key); err != nil || attr.ContentType != "image/png" {
			t.Fatalf("committed content type: %v, %v", attr, err)
		}
		if !a.Has(ctx, id) {
			t.Fatal("Has is false after Commit")
		}
		if a.HoldsBytes(ctx, id) {
			// Copied: still readable here.
			a.assertDigest(t, id, data)
			a.assertHead(t, id, data, 10)
		}
		a.remove(t, id)
		a.assertStates(t, id, false, false, false)
		if got, err := dst.Blob().ReadAll(ctx, key); err != nil || len(got) != size {
			t.Fatalf("Remove touched the committed object: %d bytes, %v", len(got), err)
		}
	}
	a.remove(t, unfinished)
	assertEmpty(t, h, a)
}

// Partial uploads concatenated into a final one, as tusd does: NewUpload
// with IsFinal, then ConcatUploads, and no FinishUpload.
func testConcat(t *testing.T, h Harness) {
	a := open(t, h)
	ctx := t.Context()
	for _, sizes := range [][]int{
		{mib + 3, 2*mib - 5, 17},
		{6 * mib, 5*mib + 1}, // whole S3 parts
	} {
		var ids []string
		var partials []handler.Upload
		var all []byte
		for i, n := range sizes {
			p := payload(byte(20+i), n)
			id := a.create(t, handler.FileInfo{Size: int64(n), IsPartial: true})
			a.upload(t, id, 0, p, n/3)
			a.assertStates(t, id, true, false, true)
			u, _ := a.get(t, id)
			ids = append(ids, id)
			partials = append(partials, u)
			all = append(all, p...)
		}
		final, err := a.c.Core.NewUpload(ctx, handler.FileInfo{Size: int64(len(all)), IsFinal: true, PartialUploads: ids})
		if err != nil {
			t.Fatalf("NewUpload of the final upload: %v", err)
		}
		if err := a.c.Concater.AsConcatableUpload(final).ConcatUploads(ctx, partials); err != nil {
			t.Fatalf("ConcatUploads: %v", err)
		}
		info, err := final.GetInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, info := a.get(t, info.ID); info.Offset != int64(len(all)) {
			t.Fatalf("final offset %d, want %d", info.Offset, len(all))
		}
		a.assertStates(t, info.ID, true, true, true)
		a.assertDigest(t, info.ID, all)
		a.assertHead(t, info.ID, all, mib+10)
		a.assertDigest(t, ids[0], all[:sizes[0]])
		dst := storage.NewBucket(memblob.OpenBucket(nil))
		if err := a.Commit(ctx, info.ID, dst, "c", nil); err != nil {
			t.Fatalf("Commit of the final upload: %v", err)
		}
		if got, err := dst.Blob().ReadAll(ctx, "c"); err != nil || !bytes.Equal(got, all) {
			t.Fatalf("committed final upload: %d bytes, %v", len(got), err)
		}
		dst.Close()
		a.remove(t, append(ids, info.ID)...)
	}
	assertEmpty(t, h, a)
}

// Terminate (tus DELETE) of unfinished and finished uploads leaves nothing
// and does not touch another upload.
func testTerminate(t *testing.T, h Harness) {
	a := open(t, h)
	ctx := t.Context()
	data := payload(30, 7*mib)
	other := a.create(t, handler.FileInfo{Size: 10})
	a.upload(t, other, 0, data[:10])

	short := a.create(t, handler.FileInfo{Size: int64(len(data))})
	a.upload(t, short, 0, data[:mib+1]) // below S3's part minimum
	part := a.create(t, handler.FileInfo{Size: int64(len(data))})
	a.upload(t, part, 0, data[:6*mib]) // a whole S3 part
	done := a.create(t, handler.FileInfo{Size: 2*mib + 5})
	a.upload(t, done, 0, data[:2*mib+5], mib)
	for _, id := range []string{short, part, done} {
		u, _ := a.get(t, id)
		if err := a.c.Terminater.AsTerminatableUpload(u).Terminate(ctx); err != nil {
			t.Fatalf("Terminate: %v", err)
		}
		a.assertStates(t, id, false, false, false)
		if _, err := a.c.Core.GetUpload(ctx, id); !errors.Is(err, handler.ErrNotFound) {
			t.Fatalf("GetUpload after Terminate: %v, want ErrNotFound", err)
		}
		if err := a.Remove(ctx, id); err != nil {
			t.Fatalf("Remove after Terminate: %v", err)
		}
	}
	a.assertStates(t, other, true, true, true)
	a.assertDigest(t, other, data[:10])
	a.remove(t, other)
	assertEmpty(t, h, a)
}

// Remove deletes unfinished and finished uploads, again without error, and
// an unknown upload is not an error.
func testRemove(t *testing.T, h Harness) {
	a := open(t, h)
	data := payload(31, 7*mib)
	short := a.create(t, handler.FileInfo{Size: int64(len(data))})
	a.upload(t, short, 0, data[:mib+1])
	part := a.create(t, handler.FileInfo{Size: int64(len(data))})
	a.upload(t, part, 0, data[:6*mib])
	deferred := a.create(t, handler.FileInfo{SizeIsDeferred: true})
	a.upload(t, deferred, 0, data[:10])
	done := a.create(t, handler.FileInfo{Size: 2*mib + 5})
	a.upload(t, done, 0, data[:2*mib+5], mib)
	for _, id := range []string{short, part, deferred, done} {
		a.remove(t, id)
		a.remove(t, id)
		a.assertStates(t, id, false, false, false)
	}
	a.remove(t, "0123456789abcdef0123456789abcdef")
	assertEmpty(t, h, a)
}

// Ids that could reach outside an upload's own files are refused.
func testInvalidIDs(t *testing.T, h Harness) {
	a := open(t, h)
	ctx := t.Context()
	for _, id := range []string{"..", "../x", "a/b", "/abs", `a\b`, "a.info", "a+b", "a b", "a*", "é", strings.Repeat("a", 201)} {
		if _, err := a.c.Core.NewUpload(ctx, handler.FileInfo{ID: id, Size: 1}); !errors.Is(err, tusstage.ErrInvalidID) {
			t.Errorf("NewUpload(%q): %v, want ErrInvalidID", id, err)
		}
		if _, err := a.c.Core.GetUpload(ctx, id); !errors.Is(err, handler.ErrNotFound) {
			t.Errorf("GetUpload(%q): %v, want ErrNotFound", id, err)
		}
		if a.Has(ctx, id) || a.HoldsBytes(ctx, id) || a.Complete(ctx, id) {
			t.Errorf("%q: Has, HoldsBytes or Complete", id)
		}
		if err := a.Remove(ctx, id); !errors.Is(err, tusstage.ErrInvalidID) {
			t.Errorf("Remove(%q): %v, want ErrInvalidID", id, err)
		}
		if _, err := a.Head(ctx, id, 1); err == nil {
			t.Errorf("Head(%q) succeeded", id)
		}
		if _, _, err := a.Digest(ctx, id); err == nil {
			t.Errorf("Digest(%q) succeeded", id)
		}
	}
	assertEmpty(t, h, a)
}

// Several uploads through one area at once.
func testConcurrent(t *testing.T, h Harness) {
	a := open(t, h)
	const n = 4
	ids := make([]string, n)
	datas := make([][]byte, n)
	for i := range n {
		datas[i] = payload(byte(40+i), mib+100*i)
		ids[i] = a.create(t, handler.FileInfo{Size: int64(len(datas[i]))})
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx := context.WithoutCancel(t.Context())
			for off := 0; off < len(datas[i]); off += 300000 {
				u, err := a.c.Core.GetUpload(ctx, ids[i])
				if err != nil {
					t.Error(err)
					return
				}
				end := min(off+300000, len(datas[i]))
				if _, err := u.WriteChunk(ctx, int64(off), bytes.NewReader(datas[i][off:end])); err != nil {
					t.Error(err)
					return
				}
				if end == len(datas[i]) {
					if err := u.FinishUpload(ctx); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i := range n {
		a.assertDigest(t, ids[i], datas[i])
	}
	a.remove(t, ids...)
	assertEmpty(t, h, a)
}

// The area behind tusd's handler: an upload in several PATCHes, a deferred
// upload cut at its limit with 413, a creation over the limit refused with
// 413, and DELETE.
func testHTTP(t *testing.T, h Harness) {
	a := open(t, h)
	memorylocker.New().UseIn(a.c)
	th, err := handler.NewHandler(handler.Config{
		BasePath:      "/files/",
		StoreComposer: a.c,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/files/", th))
	t.Cleanup(srv.Close)
	do := func(method, url string, body []byte, hdr ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Tus-Resumable", "1.0.0")
		if body != nil {
			req.Header.Set("Content-Type", "application/offset+octet-stream")
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	// "max 1000", base64-encoded as tus metadata.
	const limited = "max MTAwMA=="

	data := payload(50, 3*mib+17)
	res := do("POST", srv.URL+"/files/", nil, "Upload-Length", strconv.Itoa(len(data)))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", res.Status)
	}
	loc := res.Header.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]
	cuts := []int{0, mib - 1, 2*mib + 5, len(data)}
	for i := range 3 {
		res := do("PATCH", loc, data[cuts[i]:cuts[i+1]], "Upload-Offset", strconv.Itoa(cuts[i]))
		if res.StatusCode != http.StatusNoContent || res.Header.Get("Upload-Offset") != strconv.Itoa(cuts[i+1]) {
			t.Fatalf("PATCH %d: %s, offset %s", i, res.Status, res.Header.Get("Upload-Offset"))
		}
	}
	res = do("HEAD", loc, nil)
	if res.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) || res.Header.Get("Upload-Length") != strconv.Itoa(len(data)) {
		t.Fatalf("HEAD: %s, offset %s, length %s", res.Status, res.Header.Get("Upload-Offset"), res.Header.Get("Upload-Length"))
	}
	a.assertStates(t, id, true, true, true)
	a.assertDigest(t, id, data)
	if res := do("DELETE", loc, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %s", res.Status)
	}
	a.assertStates(t, id, false, false, false)
	if res := do("HEAD", loc, nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("HEAD after DELETE: %s", res.Status)
	}

	if res := do("POST", srv.URL+"/files/", nil, "Upload-Length", "1001", "Upload-Metadata", limited); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("POST over the limit: %s, want 413", res.Status)
	}
	res = do("POST", srv.URL+"/files/", nil, "Upload-Defer-Length", "1", "Upload-Metadata", limited)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST with a deferred length: %s", res.Status)
	}
	loc = res.Header.Get("Location")
	if res := do("PATCH", loc, data[:1500], "Upload-Offset", "0"); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("PATCH over the limit: %s, want 413", res.Status)
	}
	if res := do("HEAD", loc, nil); res.Header.Get("Upload-Offset") != "1000" {
		t.Fatalf("offset after the refused PATCH: %s, want 1000", res.Header.Get("Upload-Offset"))
	}
	if res := do("DELETE", loc, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %s", res.Status)
	}
	assertEmpty(t, h, a)
}
