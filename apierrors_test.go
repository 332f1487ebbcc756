package carcosa_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/quota"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
	"github.com/carcosa-dev/carcosa/transform"
)

// failingStore is a Store whose reads fail once down is set, as a database
// that went away.
type failingStore struct {
	*memstore.Store
	down atomic.Bool
}

var errBackend = errors.New("connection reset by peer")

func (s *failingStore) List(ctx context.Context, q store.Query) ([]*store.Upload, error) {
	if s.down.Load() {
		return nil, errBackend
	}
	return s.Store.List(ctx, q)
}

func (s *failingStore) Stats(ctx context.Context) ([]store.Stat, error) {
	if s.down.Load() {
		return nil, errBackend
	}
	return s.Store.Stats(ctx)
}

func (s *failingStore) GetByKey(ctx context.Context, key string) (*store.Upload, error) {
	if s.down.Load() {
		return nil, errBackend
	}
	return s.Store.GetByKey(ctx, key)
}

func (s *failingStore) ListAudit(ctx context.Context, q store.AuditQuery) ([]*store.AuditEvent, error) {
	if s.down.Load() {
		return nil, errBackend
	}
	return s.Store.ListAudit(ctx, q)
}

// noAuditStore is a Store that keeps no audit log.
type noAuditStore struct{ store.Store }

// Every exported method of the Router returns its errors as *carcosa.Error,
// matching the documented sentinel; a failing backend is ErrUnavailable
// with the backend's error kept as its cause.
func TestRouterMethodsReturnCarcosaErrors(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.serve(t)
	ready := tb.postFile(t, "alice", "files", "a.png", pngBytes(t, 16), nil)

	fs := &failingStore{Store: memstore.New()}
	down := setupWith(t, fs)
	fs.down.Store(true)

	noAudit := setupWith(t, noAuditStore{memstore.New()})
	quotas := setupConfig(t, memstore.New(), func(c *carcosa.Config) { c.Quota = &quota.Policy{} })

	ctx := context.Background()
	missing := "00000000000000000000000000"
	for _, tc := range []struct {
		name  string
		call  func() error
		want  *carcosa.Error
		cause error // also matched by errors.Is, when set
	}{
		{"List bad cursor", func() error {
			_, err := tb.router.List(ctx, carcosa.ListOptions{Cursor: "nonsense"})
			return err
		}, carcosa.ErrBadRequest, nil},
		{"List bad state", func() error {
			_, err := tb.router.List(ctx, carcosa.ListOptions{State: "gone"})
			return err
		}, carcosa.ErrBadRequest, nil},
		{"List store down", func() error {
			_, err := down.router.List(ctx, carcosa.ListOptions{})
			return err
		}, carcosa.ErrUnavailable, errBackend},
		{"Get missing", func() error {
			_, err := tb.router.Get(ctx, missing)
			return err
		}, carcosa.ErrNotFound, nil},
		{"Delete missing", func() error { return tb.router.Delete(ctx, missing) }, carcosa.ErrNotFound, nil},
		{"Rename missing", func() error {
			_, err := tb.router.Rename(ctx, missing, "b.png")
			return err
		}, carcosa.ErrNotFound, nil},
		{"SignedURL missing", func() error {
			_, err := tb.router.SignedURL(ctx, missing, 0)
			return err
		}, carcosa.ErrNotFound, nil},
		{"UploadFromURL unknown route", func() error {
			_, err := tb.router.UploadFromURL(ctx, "nope", "https://example.com/a.png", carcosa.FromURL{Owner: "alice"})
			return err
		}, carcosa.ErrUnknownRoute, nil},
		{"UploadFromURL loopback", func() error {
			_, err := tb.router.UploadFromURL(ctx, "files", "http://127.0.0.1/a.png", carcosa.FromURL{Owner: "alice"})
			return err
		}, carcosa.ErrURLRefused, nil},
		{"UploadFromURL metadata", func() error {
			_, err := tb.router.UploadFromURL(ctx, "files", "https://example.com/a.png", carcosa.FromURL{Owner: "alice", Metadata: func() {}})
			return err
		}, carcosa.ErrBadRequest, nil},
		{"Usage without quotas", func() error {
			_, err := tb.router.Usage(ctx, "", "alice", "files")
			return err
		}, carcosa.ErrNoQuotas, nil},
		{"SetQuota without quotas", func() error {
			return tb.router.SetQuota(ctx, quota.Scope{Kind: store.ScopeOwner, Owner: "alice"}, &quota.Limits{Files: 1})
		}, carcosa.ErrNoQuotas, nil},
		{"SetQuota invalid scope", func() error {
			return quotas.router.SetQuota(ctx, quota.Scope{Kind: "planet"}, &quota.Limits{Files: 1})
		}, carcosa.ErrBadRequest, nil},
		{"SetQuota negative", func() error {
			return quotas.router.SetQuota(ctx, quota.Scope{Kind: store.ScopeOwner, Owner: "alice"}, &quota.Limits{Files: -1})
		}, carcosa.ErrBadRequest, nil},
		{"AuditLog without an audit log", func() error {
			_, err := noAudit.router.AuditLog(ctx, store.AuditQuery{})
			return err
		}, carcosa.ErrNoAuditLog, nil},
		{"AuditLog store down", func() error {
			_, err := down.router.AuditLog(ctx, store.AuditQuery{})
			return err
		}, carcosa.ErrUnavailable, errBackend},
		{"Quarantined bad limit", func() error {
			_, err := tb.router.Quarantined(ctx, store.Cursor{}, -1)
			return err
		}, carcosa.ErrBadRequest, nil},
		{"Quarantined store down", func() error {
			_, err := down.router.Quarantined(ctx, store.Cursor{}, 0)
			return err
		}, carcosa.ErrUnavailable, errBackend},
		{"Release missing", func() error {
			_, err := tb.router.Release(ctx, missing)
			return err
		}, carcosa.ErrNotFound, nil},
		{"Release not quarantined", func() error {
			_, err := tb.router.Release(ctx, ready)
			return err
		}, carcosa.ErrNotQuarantined, nil},
		{"DeleteQuarantined not quarantined", func() error { return tb.router.DeleteQuarantined(ctx, ready) }, carcosa.ErrNotQuarantined, nil},
		{"TransformURL unknown key", func() error {
			_, err := tb.router.TransformURL(ctx, "no/such/key.png", transform.Spec{Width: 10}, 0)
			return err
		}, carcosa.ErrNotFound, store.ErrNotFound},
		{"TransformURL bad spec", func() error {
			_, err := tb.router.TransformURL(ctx, "no/such/key.png", transform.Spec{Width: -1}, 0)
			return err
		}, carcosa.ErrBadTransform, nil},
		{"TransformURL store down", func() error {
			_, err := down.router.TransformURL(ctx, "k.png", transform.Spec{Width: 10}, 0)
			return err
		}, carcosa.ErrUnavailable, errBackend},
		{"Stats store down", func() error {
			_, err := down.router.Stats(ctx)
			return err
		}, carcosa.ErrUnavailable, errBackend},
		{"Recover store down", func() error { return down.router.Recover(ctx) }, carcosa.ErrUnavailable, errBackend},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want one matching %s", err, tc.want.Code)
			}
			var e *carcosa.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is a %T, not a *carcosa.Error", err, err)
			}
			if _, ok := err.(*carcosa.Error); !ok {
				t.Errorf("error %v is a %T wrapping the *carcosa.Error; want the *carcosa.Error itself", err, err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %v lost its cause %v", err, tc.cause)
			}
		})
	}
}
