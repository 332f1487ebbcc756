package blobstage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/carcosa-dev/carcosa/internal/drivers"
)

// s3Backend stages uploads with tusd's s3store, keeping this store's ids:
// s3store names an upload "<object id>+<multipart id>", and the object id is
// the id tusd sees here.
type s3Backend struct {
	s      *Store
	store  handler.DataStore // tusd's s3store
	api    drivers.S3
	bucket string

	mu  sync.Mutex
	ids map[string]string // object id -> s3store id; never changes
}

func newS3Backend(s *Store, api drivers.S3, bucket, tmp string) *s3Backend {
	st := api.NewStore(bucket, s.prefix, tmp)
	return &s3Backend{s: s, store: st, api: api, bucket: bucket, ids: make(map[string]string)}
}

func (b *s3Backend) remember(id, full string) {
	b.mu.Lock()
	b.ids[id] = full
	b.mu.Unlock()
}

func (b *s3Backend) forget(id string) {
	b.mu.Lock()
	delete(b.ids, id)
	b.mu.Unlock()
}

// resolve returns s3store's id for upload id, from the cache or from the
// .info object s3store wrote. A missing .info is handler.ErrNotFound.
func (b *s3Backend) resolve(ctx context.Context, id string) (string, error) {
	b.mu.Lock()
	full, ok := b.ids[id]
	b.mu.Unlock()
	if ok {
		return full, nil
	}
	data, err := b.s.b.ReadAll(ctx, b.s.infoKey(id))
	if err != nil {
		if isNotFound(err) {
			return "", handler.ErrNotFound
		}
		return "", fmt.Errorf("blobstage: reading info of %s: %w", id, err)
	}
	var info handler.FileInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return "", fmt.Errorf("blobstage: info of %s: %w", id, err)
	}
	if !strings.HasPrefix(info.ID, id+"+") || len(info.ID) == len(id)+1 {
		return "", fmt.Errorf("blobstage: info of %s names upload %q", id, info.ID)
	}
	b.remember(id, info.ID)
	return info.ID, nil
}

func multipartID(full string) string { return full[strings.LastIndex(full, "+")+1:] }

func (b *s3Backend) newUpload(ctx context.Context, info handler.FileInfo) (*s3Upload, error) {
	id := info.ID
	inner, err := b.store.NewUpload(ctx, info)
	if err != nil {
		return nil, err
	}
	fi, err := inner.GetInfo(ctx) // s3store keeps it from NewUpload
	if err != nil {
		return nil, err
	}
	b.remember(id, fi.ID)
	return &s3Upload{b: b, id: id, inner: inner}, nil
}

func (b *s3Backend) getUpload(ctx context.Context, id string) (*s3Upload, error) {
	full, err := b.resolve(ctx, id)
	if err != nil {
		return nil, err
	}
	inner, err := b.store.GetUpload(ctx, full)
	if err != nil {
		return nil, err
	}
	// s3store caches the info, so tusd's next GetInfo costs nothing; a
	// removed upload is found missing here.
	if _, err := inner.GetInfo(ctx); err != nil {
		if errors.Is(err, handler.ErrNotFound) {
			b.forget(id)
		}
		return nil, err
	}
	return &s3Upload{b: b, id: id, inner: inner}, nil
}

func (b *s3Backend) head(ctx context.Context, id string, n int) ([]byte, error) {
	if n == 0 {
		return []byte{}, nil
	}
	r, err := b.s.b.NewRangeReader(ctx, b.s.objectKey(id), 0, int64(n), nil)
	if err != nil {
		return nil, fmt.Errorf("blobstage: reading %s: %w", id, err)
	}
	defer r.Close()
	buf := make([]byte, min(int64(n), r.Size()))
	m, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	return buf[:m], nil
}

// abort aborts the multipart upload multipart of upload id; one already
// completed or aborted is not an error.
func (b *s3Backend) abort(ctx context.Context, id, multipart string) error {
	if err := b.api.AbortMultipart(ctx, b.bucket, b.s.objectKey(id), multipart); err != nil {
		return fmt.Errorf("blobstage: aborting multipart upload of %s: %w", id, err)
	}
	return nil
}

// abortAll aborts every multipart upload of the object of upload id, for
// when its .info, which names the one s3store made, is gone.
func (b *s3Backend) abortAll(ctx context.Context, id string) error {
	ups, err := b.api.MultipartUploads(ctx, b.bucket, b.s.objectKey(id))
	if err != nil {
		return fmt.Errorf("blobstage: listing multipart uploads of %s: %w", id, err)
	}
	for _, up := range ups {
		if err := b.abort(ctx, id, up); err != nil {
			return err
		}
	}
	return nil
}

// remove aborts the multipart upload, then deletes the object, .part, hash
// state and, last, .info.
func (b *s3Backend) remove(ctx context.Context, id string) error {
	full, err := b.resolve(ctx, id)
	switch {
	case err == nil:
		err = b.abort(ctx, id, multipartID(full))
	case errors.Is(err, handler.ErrNotFound):
		err = b.abortAll(ctx, id)
	}
	if err != nil {
		return err
	}
	s := b.s
	if err := s.deleteKeys(ctx, s.objectKey(id), s.partKey(id), s.stateKey(id)); err != nil {
		return err
	}
	if err := s.deleteKeys(ctx, s.infoKey(id)); err != nil {
		return err
	}
	b.forget(id)
	return nil
}

// s3Upload wraps an s3store upload, reporting this store's id.
type s3Upload struct {
	b     *s3Backend
	id    string
	inner handler.Upload
}

func (u *s3Upload) GetInfo(ctx context.Context) (handler.FileInfo, error) {
	info, err := u.inner.GetInfo(ctx)
	info.ID = u.id
	return info, err
}

func (u *s3Upload) meta(ctx context.Context) (handler.FileInfo, error) { return u.GetInfo(ctx) }

func (u *s3Upload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	return u.inner.WriteChunk(ctx, offset, src)
}

// GetReader reads the object of a finished upload.
func (u *s3Upload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	r, err := u.b.s.b.NewReader(ctx, u.b.s.objectKey(u.id), nil)
	if err != nil {
		return nil, fmt.Errorf("blobstage: reading %s: %w", u.id, err)
	}
	return r, nil
}

func (u *s3Upload) FinishUpload(ctx context.Context) error { return u.inner.FinishUpload(ctx) }

func (u *s3Upload) DeclareLength(ctx context.Context, length int64) error {
	d, ok := u.inner.(handler.LengthDeclarableUpload)
	if !ok {
		return errors.New("blobstage: s3store upload cannot declare its length")
	}
	return d.DeclareLength(ctx, length)
}

// concat hands s3store its own upload values. When it concatenates by
// download and re-upload it aborts the now unused multipart upload in the
// background with the request's context; it is aborted here as well so that
// none is left open.
func (u *s3Upload) concat(ctx context.Context, partials []innerUpload) error {
	inner := make([]handler.Upload, len(partials))
	for i, p := range partials {
		pu, ok := p.(*s3Upload)
		if !ok {
			return fmt.Errorf("blobstage: partial upload of type %T is not an s3store upload", p)
		}
		inner[i] = pu.inner
	}
	c, ok := u.inner.(handler.ConcatableUpload)
	if !ok {
		return errors.New("blobstage: s3store upload cannot be concatenated")
	}
	if err := c.ConcatUploads(ctx, inner); err != nil {
		return err
	}
	full, err := u.b.resolve(ctx, u.id)
	if err != nil {
		return err
	}
	return u.b.abort(context.WithoutCancel(ctx), u.id, multipartID(full))
}

// ready completes the multipart upload if the object does not exist yet: a
// process may have stopped between the last chunk and completing it.
func (u *s3Upload) ready(ctx context.Context) error {
	ok, err := u.b.s.b.Exists(ctx, u.b.s.objectKey(u.id))
	if err != nil {
		return fmt.Errorf("blobstage: %w", err)
	}
	if ok {
		return nil
	}
	return u.inner.FinishUpload(ctx)
}

func (u *s3Upload) singleObject() string { return u.b.s.objectKey(u.id) }
