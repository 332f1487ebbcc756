// Package blobstage is a tusd DataStore that stages resumable uploads in an
// object storage bucket (gocloud.dev/blob) instead of on local disk, so that
// any number of stateless server instances can share the staging area and an
// upload survives the restart of the process that received its first bytes.
//
// # Layout
//
// Every key starts with Options.Prefix (default ".carcosa-tus/"). For an
// upload id the store keeps:
//
//	<prefix><id>.info          the tusd FileInfo as JSON
//	<prefix><id>.sha256state   the SHA-256 state of the first N bytes, and N
//
// and, depending on the kind of bucket, the bytes themselves.
//
// Generic chunk store (any bucket): each PATCH request writes one object
//
//	<prefix><id>/<offset>      offset: 20 decimal digits, zero padded
//
// holding the bytes that request delivered, starting at that offset. The
// upload's offset is never read from .info: it is the end of the run of chunks
// that starts at offset 0 and continues without gap (each chunk's name is the
// sum of the sizes before it). Chunks outside that run are ignored and deleted
// by the next write.
//
// S3 store (Options.S3Bucket set on an S3 bucket): tusd's s3store writes a
// multipart upload for
//
//	<prefix><id>               the data; a complete object once finished
//	<prefix><id>.info          s3store's info, whose ID is "<id>+<multipart id>"
//	<prefix><id>.part          s3store's buffer for a part below S3's minimum
//
// Upload ids seen through this store are always the plain <id>; the multipart
// id is looked up in .info.
//
// # Crash semantics
//
// Generic chunk store: an object only appears when its writer is closed. A
// chunk whose request body ends early, because the client went away, is still
// closed and kept, as tus keeps what arrived. If the process dies while a
// chunk is being written, no chunk object appears and the upload's offset
// stays where it was; the client resumes from there. (On S3 the driver may
// leave an incomplete multipart upload behind for such a chunk; a bucket
// lifecycle rule that aborts incomplete multipart uploads removes it.)
//
// S3 store: s3store cuts a chunk into parts of at least 5 MiB. If the process
// dies mid-chunk, the parts already uploaded are kept and the offset is their
// end; the .part buffer of the previous chunk may be lost with it, which
// s3store reports as a lower offset. If it dies after the last chunk but
// before the multipart upload is completed, Complete, Digest, Head and Commit
// complete it.
//
// The hash state is saved after each chunk. It is used only when its offset
// equals the offset the data is at; any other state is deleted and the digest
// of that upload is computed by reading its bytes once. A lost or stale state
// therefore costs one read, never a wrong digest.
//
// tusd's locker must serialise requests per upload (one writer per upload at
// a time); the store itself keeps no per-upload state in memory apart from a
// cache of S3 multipart ids, which never change.
package blobstage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tus/tusd/v2/pkg/handler"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/carcosa-dev/carcosa/internal/drivers"
	"github.com/carcosa-dev/carcosa/internal/tusstage"
	"github.com/carcosa-dev/carcosa/storage"
)

// DefaultPrefix is the key prefix used when Options.Prefix is empty.
const DefaultPrefix = ".carcosa-tus/"

// maxCopySize is the largest object S3's CopyObject accepts; larger uploads are
// committed by streaming.
const maxCopySize = 5 << 30

// octetStream is the content type of staged objects, and of committed objects
// whose PutOptions name none (as storage.Bucket.Put does).
const octetStream = "application/octet-stream"

// Options configures a Store. A nil *Options is valid.
type Options struct {
	// Prefix is prepended to every key the store writes; default
	// ".carcosa-tus/". A "/" is appended if it does not end with one, as
	// tusd's s3store does with its prefixes, so both kinds of store agree on
	// the keys.
	Prefix string

	// Limit returns the largest size in bytes allowed for an upload with this
	// info (0 or negative: no limit). It is evaluated from the upload's info
	// whenever needed, so it must depend only on what the info holds (its
	// MetaData), not on time or other state.
	Limit func(info handler.FileInfo) int64

	// S3Bucket is the name of the bucket when b is an S3 bucket. When it is
	// set and b is a bucket of the S3 driver (storage/s3 is imported),
	// uploads are staged by tusd's s3store as S3 multipart uploads. b must
	// then address the bucket's root (not a prefixed view), since s3store
	// uses the S3 API directly. Otherwise the generic chunk store is used.
	S3Bucket string

	// TempDir holds s3store's part buffers; default os.TempDir().
	TempDir string
}

// Store is a tusd DataStore staging uploads in a bucket. It is safe for
// concurrent use; per-upload serialisation is tusd's locker's job.
type Store struct {
	b      *blob.Bucket
	prefix string
	limit  func(handler.FileInfo) int64
	s3api  drivers.S3 // S3's own API when b is an S3 bucket, else nil
	s3     *s3Backend // nil for the generic chunk store
}

// New returns a Store staging uploads in b. opts may be nil. The Store does
// not take over b: closing b is the caller's job.
func New(b *blob.Bucket, opts *Options) (*Store, error) {
	if b == nil {
		return nil, errors.New("blobstage: nil bucket")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
	s := &Store{b: b, prefix: o.Prefix, limit: o.Limit}
	s.s3api, _ = drivers.S3Of(b)
	if o.S3Bucket != "" && s.s3api != nil {
		tmp := o.TempDir
		if tmp == "" {
			tmp = os.TempDir()
		}
		s.s3 = newS3Backend(s, s.s3api, o.S3Bucket, tmp)
	}
	return s, nil
}

// UseIn registers the store as core, terminater, concater and length deferrer.
// It is not registered as content server (staged data is not served for
// download) nor as locker.
func (s *Store) UseIn(c *handler.StoreComposer) {
	c.UseCore(s)
	c.UseTerminater(s)
	c.UseConcater(s)
	c.UseLengthDeferrer(s)
}

// Flush waits for background work. The store does none (every write is
// complete when its call returns), so Flush returns at once.
func (s *Store) Flush() {}

// Keys.

func (s *Store) infoKey(id string) string  { return s.prefix + id + ".info" }
func (s *Store) stateKey(id string) string { return s.prefix + id + ".sha256state" }
func (s *Store) chunkDir(id string) string { return s.prefix + id + "/" }
func (s *Store) chunkKey(id string, off int64) string {
	return fmt.Sprintf("%s%s/%020d", s.prefix, id, off)
}
func (s *Store) objectKey(id string) string { return s.prefix + id }
func (s *Store) partKey(id string) string   { return s.prefix + id + ".part" }

// validID reports whether id is in [A-Za-z0-9_-]{1,200}: no separators, dots
// or anything else that could make one upload's keys reach another's.
func validID(id string) bool {
	if id == "" || len(id) > 200 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// limitFor evaluates Options.Limit for info; 0 means no limit.
func (s *Store) limitFor(info handler.FileInfo) int64 {
	if s.limit == nil {
		return 0
	}
	return max(s.limit(info), 0)
}

func isNotFound(err error) bool { return gcerrors.Code(err) == gcerrors.NotFound }

// deleteKeys deletes keys in order; missing objects are not an error.
func (s *Store) deleteKeys(ctx context.Context, keys ...string) error {
	var errs []error
	for _, k := range keys {
		if err := s.b.Delete(ctx, k); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("blobstage: delete %q: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

// NewUpload implements handler.DataStore. An empty info.ID gets a new random
// 32-hex id; a set one (from a pre-create hook) must be a valid id. A declared
// size above the upload's limit is refused with tusstage.ErrTooLarge before
// anything is written.
func (s *Store) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	if info.ID == "" {
		id, err := newID()
		if err != nil {
			return nil, err
		}
		info.ID = id
	} else if !validID(info.ID) {
		return nil, tusstage.ErrInvalidID
	}
	if l := s.limitFor(info); l > 0 && !info.SizeIsDeferred && info.Size > l {
		return nil, tusstage.ErrTooLarge
	}
	var (
		inner innerUpload
		err   error
	)
	if s.s3 != nil {
		inner, err = s.s3.newUpload(ctx, info)
	} else {
		inner, err = s.newChunkUpload(ctx, info)
	}
	if err != nil {
		return nil, err
	}
	return &upload{s: s, id: info.ID, inner: inner}, nil
}

// GetUpload implements handler.DataStore. It returns handler.ErrNotFound for
// an invalid id or an upload without .info.
func (s *Store) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	u, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Store) get(ctx context.Context, id string) (*upload, error) {
	if !validID(id) {
		return nil, handler.ErrNotFound
	}
	var (
		inner innerUpload
		err   error
	)
	if s.s3 != nil {
		inner, err = s.s3.getUpload(ctx, id)
	} else {
		inner, err = s.getChunkUpload(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	return &upload{s: s, id: id, inner: inner}, nil
}

// AsTerminatableUpload implements handler.TerminaterDataStore.
func (s *Store) AsTerminatableUpload(u handler.Upload) handler.TerminatableUpload {
	return u.(*upload)
}

// AsConcatableUpload implements handler.ConcaterDataStore.
func (s *Store) AsConcatableUpload(u handler.Upload) handler.ConcatableUpload {
	return u.(*upload)
}

// AsLengthDeclarableUpload implements handler.LengthDeferrerDataStore.
func (s *Store) AsLengthDeclarableUpload(u handler.Upload) handler.LengthDeclarableUpload {
	return u.(*upload)
}

// Has reports whether upload id is known here: its info exists, whatever
// the state of its data. It stays true until Remove or Terminate.
func (s *Store) Has(ctx context.Context, id string) bool {
	if !validID(id) {
		return false
	}
	ok, err := s.b.Exists(ctx, s.infoKey(id))
	return err == nil && ok
}

// HoldsBytes reports whether the bytes of upload id are still here. Commit
// copies rather than moves, so it is Has.
func (s *Store) HoldsBytes(ctx context.Context, id string) bool { return s.Has(ctx, id) }

// Complete reports whether upload id has all its bytes: its length is known,
// it is not a partial upload waiting for concatenation, and its offset equals
// its size. On S3 it also makes sure the multipart upload is completed (a
// process may have died between the last chunk and completing it).
func (s *Store) Complete(ctx context.Context, id string) bool {
	_, info, err := s.finished(ctx, id)
	return err == nil && !info.IsPartial
}

// Offset is how many bytes upload id has received. It returns an error
// matching handler.ErrNotFound for an upload that is not staged.
func (s *Store) Offset(ctx context.Context, id string) (int64, error) {
	u, err := s.get(ctx, id)
	if err != nil {
		return 0, err
	}
	info, err := u.inner.GetInfo(ctx)
	return info.Offset, err
}

// finished returns upload id and its info if all its bytes are staged and
// readable, and tusstage.ErrNotFinished if its length is deferred or its
// offset is short of its size.
func (s *Store) finished(ctx context.Context, id string) (*upload, handler.FileInfo, error) {
	if !validID(id) {
		return nil, handler.FileInfo{}, tusstage.ErrInvalidID
	}
	u, err := s.get(ctx, id)
	if err != nil {
		return nil, handler.FileInfo{}, err
	}
	info, err := u.inner.GetInfo(ctx)
	if err != nil {
		return nil, info, err
	}
	if info.SizeIsDeferred || info.Offset != info.Size {
		return nil, info, tusstage.ErrNotFinished
	}
	if err := u.inner.ready(ctx); err != nil {
		return nil, info, err
	}
	return u, info, nil
}

// Digest returns the SHA-256 and size of a finished upload, or an error
// matching tusstage.ErrNotFinished if its length is deferred or not all its
// bytes are staged. The saved hash state is used when it covers exactly the
// upload; otherwise the staged bytes are read and hashed once, and the state
// saved for next time.
func (s *Store) Digest(ctx context.Context, id string) (sum [32]byte, size int64, err error) {
	u, info, err := s.finished(ctx, id)
	if err != nil {
		return sum, 0, err
	}
	st, err := s.loadState(ctx, id)
	if err != nil {
		return sum, 0, err
	}
	if st != nil && st.offset == info.Size {
		st.h.Sum(sum[:0])
		return sum, info.Size, nil
	}
	r, err := u.inner.GetReader(ctx)
	if err != nil {
		return sum, 0, err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, exactReader(r, info.Size)); err != nil {
		return sum, 0, err
	}
	// Best effort: the digest is known, saving only spares the next call a
	// read.
	_ = s.saveState(context.WithoutCancel(ctx), id, info.Size, h)
	h.Sum(sum[:0])
	return sum, info.Size, nil
}

// Head returns the first n bytes of upload id, or fewer if it holds fewer.
// With the generic chunk store it reads whatever is staged; with s3store the
// upload must be finished (its parts are not readable before).
func (s *Store) Head(ctx context.Context, id string, n int) ([]byte, error) {
	if !validID(id) {
		return nil, tusstage.ErrInvalidID
	}
	if n < 0 {
		return nil, errors.New("blobstage: negative length")
	}
	if s.s3 != nil {
		_, info, err := s.finished(ctx, id)
		if err != nil {
			return nil, err
		}
		// S3 refuses a range starting at the end of an object, as
		// bytes=0-… of an empty one is.
		if int64(n) > info.Size {
			n = int(info.Size)
		}
		return s.s3.head(ctx, id, n)
	}
	u, err := s.getChunkUpload(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := u.list(ctx); err != nil {
		return nil, err
	}
	r := u.reader(ctx, int64(n))
	defer r.Close()
	buf := make([]byte, min(int64(n), u.end))
	m, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	return buf[:m], nil
}

// Commit puts the bytes of finished upload id at key in dst. When dst is a
// *storage.Bucket, or a wrapper with its Blob method, over the same
// *blob.Bucket as the store and the upload is a single object (an S3
// upload, or a generic upload of one chunk) of at most 5 GiB, the bucket
// copies it server-side; otherwise the bytes are streamed
// into dst.Put, in constant memory. Generic drivers that cannot set the
// content type of a copy are only used when the staged object already has the
// wanted one.
func (s *Store) Commit(ctx context.Context, id string, dst storage.Storage, key string, opts *storage.PutOptions) error {
	u, info, err := s.finished(ctx, id)
	if err != nil {
		return err
	}
	var o storage.PutOptions
	if opts != nil {
		o = *opts
	}
	if o.Size == 0 {
		o.Size = info.Size
	}
	// A *storage.Bucket, or a wrapper of one (a circuit breaker's), has Blob.
	if sb, ok := dst.(interface{ Blob() *blob.Bucket }); ok && sb.Blob() == s.b && info.Size <= maxCopySize {
		if src := u.inner.singleObject(); src != "" {
			if err := storage.CheckKey(key); err != nil {
				return err
			}
			copied, err := s.copyObject(ctx, key, src, o.ContentType)
			if err != nil {
				return err
			}
			if copied {
				return nil
			}
		}
	}
	r, err := u.inner.GetReader(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	return dst.Put(ctx, key, exactReader(r, info.Size), &o)
}

// copyObject copies src to dst inside the store's bucket with content type
// ct, if the driver allows it: S3 (where the copy's content type is set) or
// a source that already has content type ct. It reports whether it copied.
func (s *Store) copyObject(ctx context.Context, dst, src, ct string) (bool, error) {
	if ct == "" {
		ct = octetStream
	}
	if s.s3api == nil {
		a, err := s.b.Attributes(ctx, src)
		if err != nil {
			return false, fmt.Errorf("blobstage: %w", err)
		}
		if a.ContentType != ct {
			return false, nil
		}
	}
	err := s.b.Copy(ctx, dst, src, &blob.CopyOptions{BeforeCopy: func(as func(any) bool) error {
		if s.s3api != nil {
			s.s3api.CopyContentType(as, ct)
		}
		return nil
	}})
	if err != nil {
		return false, fmt.Errorf("blobstage: copy %q to %q: %w", src, dst, err)
	}
	return true, nil
}

// Remove deletes everything staged for upload id: data (chunks, or the S3
// object, its .part and its multipart upload if still open), hash state and
// info, the info last. Objects already gone are not an error.
func (s *Store) Remove(ctx context.Context, id string) error {
	if !validID(id) {
		return tusstage.ErrInvalidID
	}
	if s.s3 != nil {
		return s.s3.remove(ctx, id)
	}
	return s.removeChunks(ctx, id)
}

// exactReader returns r, failing with io.ErrUnexpectedEOF if it ends before
// size bytes, and stopping after size bytes.
func exactReader(r io.Reader, size int64) io.Reader {
	return &exact{r: io.LimitReader(r, size), left: size}
}

type exact struct {
	r    io.Reader
	left int64
}

func (e *exact) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
