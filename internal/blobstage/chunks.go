package blobstage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/tus/tusd/v2/pkg/handler"
	"gocloud.dev/blob"
)

// chunk is one object of the generic chunk store.
type chunk struct {
	key  string
	off  int64
	size int64
}

// chunkUpload is an upload of the generic chunk store. A value serves one
// tusd request, under tusd's lock; it caches the .info it read and the chunk
// listing, which it keeps in step with its own writes.
type chunkUpload struct {
	s    *Store
	id   string
	info handler.FileInfo // as read from or written to .info

	listed bool
	run    []chunk // contiguous from offset 0
	stray  []chunk // any other chunk objects
	end    int64   // the offset: end of run
}

var writerOpts = &blob.WriterOptions{ContentType: octetStream, DisableContentTypeDetection: true}

func (s *Store) newChunkUpload(ctx context.Context, info handler.FileInfo) (*chunkUpload, error) {
	info.Offset = 0
	info.Storage = map[string]string{"Type": "blobstage", "Key": s.chunkDir(info.ID)}
	u := &chunkUpload{s: s, id: info.ID, info: info, listed: true}
	if err := u.writeInfo(ctx); err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Store) getChunkUpload(ctx context.Context, id string) (*chunkUpload, error) {
	b, err := s.b.ReadAll(ctx, s.infoKey(id))
	if err != nil {
		if isNotFound(err) {
			return nil, handler.ErrNotFound
		}
		return nil, fmt.Errorf("blobstage: reading info of %s: %w", id, err)
	}
	u := &chunkUpload{s: s, id: id}
	if err := json.Unmarshal(b, &u.info); err != nil {
		return nil, fmt.Errorf("blobstage: info of %s: %w", id, err)
	}
	if u.info.ID != id {
		return nil, fmt.Errorf("blobstage: info of %s names upload %q", id, u.info.ID)
	}
	return u, nil
}

func (u *chunkUpload) writeInfo(ctx context.Context) error {
	info := u.info
	info.Offset = 0 // never trusted; computed from the chunks
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	err = u.s.b.WriteAll(ctx, u.s.infoKey(u.id), b, &blob.WriterOptions{
		ContentType:                 "application/json",
		DisableContentTypeDetection: true,
	})
	if err != nil {
		return fmt.Errorf("blobstage: writing info of %s: %w", u.id, err)
	}
	return nil
}

// listChunks lists the chunk objects of upload id and splits them into the
// contiguous run from offset 0 and the rest.
func (s *Store) listChunks(ctx context.Context, id string) (run, stray []chunk, end int64, err error) {
	dir := s.chunkDir(id)
	var all []chunk
	it := s.b.List(&blob.ListOptions{Prefix: dir})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, 0, fmt.Errorf("blobstage: listing chunks of %s: %w", id, err)
		}
		if obj.IsDir {
			continue
		}
		name := strings.TrimPrefix(obj.Key, dir)
		off, perr := strconv.ParseInt(name, 10, 64)
		if len(name) != 20 || perr != nil || off < 0 {
			stray = append(stray, chunk{key: obj.Key, off: -1, size: obj.Size})
			continue
		}
		all = append(all, chunk{key: obj.Key, off: off, size: obj.Size})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].off < all[j].off })
	for _, c := range all {
		if c.off == end && c.size > 0 {
			run = append(run, c)
			end += c.size
		} else {
			stray = append(stray, c)
		}
	}
	return run, stray, end, nil
}

func (u *chunkUpload) list(ctx context.Context) error {
	run, stray, end, err := u.s.listChunks(ctx, u.id)
	if err != nil {
		return err
	}
	u.run, u.stray, u.end, u.listed = run, stray, end, true
	return nil
}

func (u *chunkUpload) meta(ctx context.Context) (handler.FileInfo, error) {
	info := u.info
	info.Offset = u.end
	return info, nil
}

// GetInfo returns the info with the offset computed from a fresh listing.
func (u *chunkUpload) GetInfo(ctx context.Context) (handler.FileInfo, error) {
	if err := u.list(ctx); err != nil {
		return handler.FileInfo{}, err
	}
	return u.meta(ctx)
}

// WriteChunk writes src as the chunk object at offset, which must be the
// upload's current offset. Chunk objects outside the run are deleted first,
// so none can later join the run. Nothing is written for an empty src.
//
// If reading src fails after some bytes, those bytes are kept (the object is
// closed) and the read error returned with their count, as tusd's filestore
// does; tusd itself hands stores a body reader that ends cleanly when the
// client goes away. If writing fails, nothing is kept.
func (u *chunkUpload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	if !u.listed {
		if err := u.list(ctx); err != nil {
			return 0, err
		}
	}
	if offset != u.end {
		return 0, handler.ErrMismatchOffset
	}
	if len(u.stray) > 0 {
		keys := make([]string, len(u.stray))
		for i, c := range u.stray {
			keys[i] = c.key
		}
		if err := u.s.deleteKeys(ctx, keys...); err != nil {
			return 0, err
		}
		u.stray = nil
	}

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp

	// Read before creating the writer, so that an empty body creates no
	// object.
	m, rerr := readSome(src, buf)
	if m == 0 {
		if rerr == io.EOF {
			rerr = nil
		}
		return 0, rerr
	}

	// The bytes that arrived are kept even if the request's context ends
	// (client gone): the writer has its own context, cancelled only to
	// abort a failed write.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	key := u.s.chunkKey(u.id, offset)
	w, err := u.s.b.NewWriter(wctx, key, writerOpts)
	if err != nil {
		return 0, fmt.Errorf("blobstage: writing chunk %q: %w", key, err)
	}
	var n int64
	var werr error
	for {
		if m > 0 {
			var k int
			k, werr = w.Write(buf[:m])
			n += int64(k)
			if werr == nil && k != m {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				break
			}
		}
		if rerr != nil {
			break
		}
		m, rerr = src.Read(buf)
	}
	if werr != nil {
		cancel()
		_ = w.Close()
		return 0, fmt.Errorf("blobstage: writing chunk %q: %w", key, werr)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("blobstage: writing chunk %q: %w", key, err)
	}
	u.run = append(u.run, chunk{key: key, off: offset, size: n})
	u.end += n
	if rerr == io.EOF {
		rerr = nil
	}
	return n, rerr
}

// readSome reads until it gets at least one byte or an error.
func readSome(r io.Reader, buf []byte) (int, error) {
	for {
		n, err := r.Read(buf)
		if n > 0 || err != nil {
			return n, err
		}
	}
}

const copyBufSize = 256 << 10

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, copyBufSize)
	return &b
}}

// GetReader streams the run of chunks in order, one object open at a time.
func (u *chunkUpload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	if err := u.list(ctx); err != nil {
		return nil, err
	}
	return u.reader(ctx, u.end), nil
}

// reader reads the first n bytes of the listed run.
func (u *chunkUpload) reader(ctx context.Context, n int64) io.ReadCloser {
	var chunks []chunk
	var total int64
	for _, c := range u.run {
		if total >= n {
			break
		}
		chunks = append(chunks, c)
		total += c.size
	}
	return &chunkReader{ctx: ctx, b: u.s.b, chunks: chunks, left: n}
}

type chunkReader struct {
	ctx    context.Context
	b      *blob.Bucket
	chunks []chunk
	left   int64 // bytes still to deliver overall

	cur     *blob.Reader
	curLeft int64 // bytes still expected from cur
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for {
		if r.left <= 0 {
			return 0, io.EOF
		}
		if r.cur == nil {
			if len(r.chunks) == 0 {
				return 0, io.EOF
			}
			c := r.chunks[0]
			r.chunks = r.chunks[1:]
			want := min(c.size, r.left)
			cur, err := r.b.NewRangeReader(r.ctx, c.key, 0, want, nil)
			if err != nil {
				return 0, fmt.Errorf("blobstage: reading chunk %q: %w", c.key, err)
			}
			r.cur, r.curLeft = cur, want
		}
		if int64(len(p)) > r.curLeft {
			p = p[:r.curLeft]
		}
		n, err := r.cur.Read(p)
		r.curLeft -= int64(n)
		r.left -= int64(n)
		if r.curLeft == 0 {
			cerr := r.cur.Close()
			r.cur = nil
			if n > 0 || cerr != nil {
				return n, cerr
			}
			continue
		}
		if err == io.EOF {
			return n, io.ErrUnexpectedEOF // chunk shorter than listed
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

func (r *chunkReader) Close() error {
	if r.cur != nil {
		err := r.cur.Close()
		r.cur = nil
		return err
	}
	return nil
}

// FinishUpload has nothing to do: the chunks are the data.
func (u *chunkUpload) FinishUpload(ctx context.Context) error { return nil }

func (u *chunkUpload) ready(ctx context.Context) error { return nil }

// singleObject returns the only chunk's key of a one-chunk upload.
func (u *chunkUpload) singleObject() string {
	if len(u.run) == 1 {
		return u.run[0].key
	}
	return ""
}

// DeclareLength rewrites .info with the length.
func (u *chunkUpload) DeclareLength(ctx context.Context, length int64) error {
	u.info.Size = length
	u.info.SizeIsDeferred = false
	return u.writeInfo(ctx)
}

// concat copies the partials' chunks server-side to the matching offsets of
// this upload, after whatever it already holds.
func (u *chunkUpload) concat(ctx context.Context, partials []innerUpload) error {
	if err := u.list(ctx); err != nil {
		return err
	}
	base := u.end
	for _, p := range partials {
		pu, ok := p.(*chunkUpload)
		if !ok {
			return fmt.Errorf("blobstage: partial upload of type %T is not a chunk upload", p)
		}
		if err := pu.list(ctx); err != nil {
			return err
		}
		if pu.info.SizeIsDeferred || pu.end != pu.info.Size {
			return fmt.Errorf("blobstage: partial upload %s has %d of %d bytes: %w", pu.id, pu.end, pu.info.Size, handler.ErrUploadNotFinished)
		}
		if !u.info.SizeIsDeferred && base+pu.end > u.info.Size {
			return fmt.Errorf("blobstage: partial uploads exceed the size of %s", u.id)
		}
		for _, c := range pu.run {
			key := u.s.chunkKey(u.id, base+c.off)
			if err := u.s.b.Copy(ctx, key, c.key, nil); err != nil {
				return fmt.Errorf("blobstage: copying chunk %q: %w", c.key, err)
			}
			u.run = append(u.run, chunk{key: key, off: base + c.off, size: c.size})
		}
		base += pu.end
	}
	u.end = base
	return nil
}

// removeChunks deletes the chunks, hash state and info of id, the info last.
func (s *Store) removeChunks(ctx context.Context, id string) error {
	var keys []string
	it := s.b.List(&blob.ListOptions{Prefix: s.chunkDir(id)})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("blobstage: listing chunks of %s: %w", id, err)
		}
		if !obj.IsDir {
			keys = append(keys, obj.Key)
		}
	}
	if err := s.deleteKeys(ctx, append(keys, s.stateKey(id))...); err != nil {
		return err
	}
	return s.deleteKeys(ctx, s.infoKey(id))
}
