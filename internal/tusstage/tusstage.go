// Package tusstage is the local staging DataStore for tus uploads.
//
// It wraps tusd's filestore (which keeps `<dir>/<id>` for the data and
// `<dir>/<id>.info` for the upload info) and adds, per upload:
//
//   - a SHA-256 computed while the bytes stream in, so a finished upload's
//     digest is available without re-reading the file;
//   - a size limit chosen at creation time and enforced while streaming,
//     which matters for uploads whose length is deferred (tusd itself only
//     knows its global MaxSize);
//   - its own concatenation, which hashes while it appends.
//
// The running hash state lives in a sidecar `<dir>/<id>.hash`. It is only
// trusted when its recorded offset equals the data file's size; otherwise
// (crash between the data write and the sidecar write, lost or corrupt
// sidecar) the state is rebuilt by hashing the existing file prefix once.
package tusstage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/carcosa-dev/carcosa/storage"
)

// ErrTooLarge is returned when an upload would exceed its per-upload limit:
// by NewUpload (declared size), DeclareLength (late size) and WriteChunk
// (streamed bytes). It carries a 413 response for tusd.
//
// The code deliberately differs from tusd's ERR_UPLOAD_SIZE_EXCEEDED:
// handler.Error.Is compares codes, so sharing it would make errors.Is unable to
// tell this store's limit apart from tusd's own "chunk larger than
// Upload-Length" error.
var ErrTooLarge = handler.NewError("ERR_UPLOAD_TOO_LARGE", "upload exceeds the size limit", http.StatusRequestEntityTooLarge)

// ErrInvalidID is returned for upload ids outside [A-Za-z0-9_-]{1,200}.
var ErrInvalidID = handler.NewError("ERR_INVALID_UPLOAD_ID", "invalid upload id", http.StatusBadRequest)

// ErrNotFinished is returned by Digest and Commit for an upload whose length is still
// deferred or whose data does not yet reach its declared size.
var ErrNotFinished = errors.New("tusstage: upload is not finished")

const (
	// Staged bytes are readable by the process's user only; finished
	// files keep filePerm when they are moved into a file bucket.
	dirPerm  = 0o700
	filePerm = 0o600

	// maxIDLen keeps "<id>.hash.tmp<random>" well below the usual 255-byte
	// file name limit.
	maxIDLen = 200
)

// Options configures a Store.
type Options struct {
	// Limit returns the largest size in bytes allowed for a new upload with
	// this info (route limits come from info.MetaData). 0 = no limit; negative
	// values are treated as 0. Called once in NewUpload; the value is persisted
	// with the upload. It is only consulted again if that persisted record is
	// lost, so that a deleted sidecar cannot lift the limit.
	Limit func(info handler.FileInfo) int64
}

// Store is a tusd DataStore staging uploads in one local directory.
// It holds no mutable state, so one Store serves any number of concurrent
// uploads; per-upload serialisation is tusd's locker's job.
type Store struct {
	dir   string
	fs    filestore.FileStore
	limit func(handler.FileInfo) int64

	// A chunk's response does not wait for its last bytes to be hashed and
	// its hash state saved; whatever reads or continues that state next
	// waits here first.
	mu      sync.Mutex
	hashing map[string]chan struct{}
}

// settle waits until the hash state of upload id covers every byte written
// and is saved.
func (s *Store) settle(id string) {
	s.mu.Lock()
	ch := s.hashing[id]
	s.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// Flush waits until every upload's hash state is complete and saved. Call it
// before the process exits or the staging directory is removed.
func (s *Store) Flush() {
	s.mu.Lock()
	chs := make([]chan struct{}, 0, len(s.hashing))
	for _, ch := range s.hashing {
		chs = append(chs, ch)
	}
	s.mu.Unlock()
	for _, ch := range chs {
		<-ch
	}
}

// finishing records that upload id's hash state is being completed; the
// returned func marks it done.
func (s *Store) finishing(id string) func() {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hashing[id] = ch
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		if s.hashing[id] == ch {
			delete(s.hashing, id)
		}
		s.mu.Unlock()
		close(ch)
	}
}

// New returns a Store rooted at dir, creating dir if it is missing.
// opts may be nil.
func New(dir string, opts *Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("tusstage: empty directory")
	}
	// An absolute root keeps Path and the paths recorded in .info files stable
	// even if the process changes its working directory.
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("tusstage: %w", err)
	}
	if err := os.MkdirAll(abs, dirPerm); err != nil {
		return nil, fmt.Errorf("tusstage: %w", err)
	}
	fs := filestore.New(abs)
	fs.DirModePerm = dirPerm
	fs.FileModePerm = filePerm
	s := &Store{dir: abs, fs: fs, hashing: make(map[string]chan struct{})}
	if opts != nil {
		s.limit = opts.Limit
	}
	return s, nil
}

// UseIn registers the store as core, terminater, concater and length deferrer.
// It is deliberately not registered as content server: staged data is not
// served for download.
func (s *Store) UseIn(c *handler.StoreComposer) {
	c.UseCore(s)
	c.UseTerminater(s)
	c.UseConcater(s)
	c.UseLengthDeferrer(s)
}

// validID reports whether id can be used as a file name inside the staging
// directory. The character set excludes separators, dots and anything a shell
// glob would interpret.
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
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

// Path returns the path of the staged data file of upload id, or "" if id is
// not a valid upload id.
func (s *Store) Path(id string) string {
	if !validID(id) {
		return ""
	}
	return filepath.Join(s.dir, id)
}

func (s *Store) infoPath(id string) string { return filepath.Join(s.dir, id+".info") }
func (s *Store) hashPath(id string) string { return filepath.Join(s.dir, id+".hash") }

// limitFor evaluates Options.Limit for info.
func (s *Store) limitFor(info handler.FileInfo) int64 {
	if s.limit == nil {
		return 0
	}
	if l := s.limit(info); l > 0 {
		return l
	}
	return 0
}

func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// NewUpload implements handler.DataStore.
func (s *Store) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	if info.ID == "" {
		// Generated here rather than by filestore so the id is known (and the
		// limit checked) before any file is created.
		id, err := newID()
		if err != nil {
			return nil, err
		}
		info.ID = id
	} else if !validID(info.ID) {
		return nil, ErrInvalidID
	}
	// A pre-create hook may ask filestore to put the data elsewhere via
	// Storage["Path"]; staging always keeps it at Path(id) so that Path, Head,
	// Digest and Remove agree with where the bytes are.
	info.Storage = nil

	limit := s.limitFor(info)
	if limit > 0 && !info.SizeIsDeferred && info.Size > limit {
		return nil, ErrTooLarge
	}

	inner, err := s.fs.NewUpload(ctx, info)
	if err != nil {
		return nil, err
	}
	st := state{limit: limit, h: newHash()}
	if err := s.saveState(info.ID, &st); err != nil {
		_ = s.Remove(ctx, info.ID)
		return nil, err
	}
	return &upload{store: s, id: info.ID, inner: inner, offset: 0}, nil
}

// GetUpload implements handler.DataStore.
func (s *Store) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	if !validID(id) {
		return nil, handler.ErrNotFound
	}
	inner, err := s.fs.GetUpload(ctx, id)
	if err != nil {
		return nil, err
	}
	info, err := inner.GetInfo(ctx)
	if err != nil {
		return nil, err
	}
	// Uploads created by this store always keep their data at Path(id); an
	// .info pointing elsewhere was not written by us and is not trusted.
	if p := info.Storage[filestore.StorageKeyPath]; p != "" && filepath.Clean(p) != s.Path(id) {
		return nil, fmt.Errorf("tusstage: upload %s has foreign data path", id)
	}
	return &upload{store: s, id: id, inner: inner, offset: info.Offset}, nil
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

// Has reports whether upload id is known here: its .info file exists,
// whether or not its data file still does (Commit moves the data file
// out). It stays true until Remove or Terminate.
func (s *Store) Has(_ context.Context, id string) bool {
	if !validID(id) {
		return false
	}
	_, err := os.Stat(s.infoPath(id))
	return err == nil
}

// HoldsBytes reports whether the bytes of upload id are still here, that is,
// not moved into storage by Commit.
func (s *Store) HoldsBytes(_ context.Context, id string) bool {
	p := s.Path(id)
	if p == "" {
		return false
	}
	_, err := os.Stat(p)
	return err == nil
}

// Complete reports whether upload id is staged here with all its bytes: its
// length is known, its data file holds exactly that many, and it is not a
// partial upload waiting for concatenation.
func (s *Store) Complete(ctx context.Context, id string) bool {
	u, err := s.GetUpload(ctx, id)
	if err != nil {
		return false
	}
	info, err := u.GetInfo(ctx)
	return err == nil && !info.SizeIsDeferred && !info.IsPartial && info.Offset == info.Size
}

// Offset is how many bytes upload id has received. It returns an error
// matching handler.ErrNotFound for an upload that is not staged here.
func (s *Store) Offset(ctx context.Context, id string) (int64, error) {
	u, err := s.GetUpload(ctx, id)
	if err != nil {
		return 0, err
	}
	info, err := u.GetInfo(ctx)
	return info.Offset, err
}

// Digest returns the SHA-256 and size of a finished upload. The saved hash
// state is used when it covers exactly the file; otherwise the file is hashed
// once and the rebuilt state saved for next time.
func (s *Store) Digest(ctx context.Context, id string) (sum [32]byte, size int64, err error) {
	if !validID(id) {
		return sum, 0, ErrInvalidID
	}
	inner, err := s.fs.GetUpload(ctx, id)
	if err != nil {
		return sum, 0, err
	}
	info, err := inner.GetInfo(ctx)
	if err != nil {
		return sum, 0, err
	}
	if info.SizeIsDeferred || info.Offset != info.Size {
		return sum, 0, ErrNotFinished
	}
	s.settle(id)
	st, recovered, err := s.stateAt(ctx, id, info.Size, func() int64 { return s.limitFor(info) })
	if err != nil {
		return sum, 0, err
	}
	if recovered {
		// Best effort: the digest is already known, saving only spares the
		// next caller another full read.
		_ = s.saveState(id, st)
	}
	st.h.Sum(sum[:0])
	return sum, info.Size, nil
}

// Head returns the first n bytes of the staged file of upload id, or fewer if
// the file is shorter.
func (s *Store) Head(_ context.Context, id string, n int) ([]byte, error) {
	p := s.Path(id)
	if p == "" {
		return nil, ErrInvalidID
	}
	if n < 0 {
		return nil, errors.New("tusstage: negative length")
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Size the buffer by what the file can deliver, so a large n from a caller
	// does not turn into a large allocation for a small file.
	if fi, err := f.Stat(); err == nil && fi.Size() < int64(n) {
		n = int(fi.Size())
	}
	buf := make([]byte, n)
	m, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	return buf[:m], nil
}

// Commit moves the staged file of a finished upload id to key in dst: by
// renaming it when dst is a storage.FileImporter on the same file system,
// else by streaming it once. It returns ErrNotFinished for an upload
// without all its bytes. After a move, HoldsBytes reports false and Has
// still true; Remove then deletes what is left.
func (s *Store) Commit(ctx context.Context, id string, dst storage.Storage, key string, opts *storage.PutOptions) error {
	u, err := s.GetUpload(ctx, id)
	if err != nil {
		return err
	}
	info, err := u.GetInfo(ctx)
	if err != nil {
		return err
	}
	if info.SizeIsDeferred || info.Offset != info.Size {
		return ErrNotFinished
	}
	path := s.Path(id)
	if imp, ok := dst.(storage.FileImporter); ok {
		return imp.ImportFile(ctx, key, path, opts)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return dst.Put(ctx, key, f, opts)
}

// Remove deletes the data, .info and hash state of upload id. Files that are
// already gone are not an error.
func (s *Store) Remove(_ context.Context, id string) error {
	if !validID(id) {
		return ErrInvalidID
	}
	s.settle(id) // else a late save would bring the hash state back
	var errs []error
	for _, p := range []string{filepath.Join(s.dir, id), s.infoPath(id), s.hashPath(id)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.removeTemps(id))
	return errors.Join(errs...)
}

// removeTemps deletes sidecar temp files a crash may have left behind. The id
// is validated, so it contains no glob metacharacters, and since ids contain
// no dots the pattern cannot match another upload's files.
func (s *Store) removeTemps(id string) error {
	matches, err := filepath.Glob(filepath.Join(s.dir, id+".hash.tmp*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
