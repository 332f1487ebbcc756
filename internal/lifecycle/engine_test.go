package lifecycle_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/imaging"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/queue"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
	"github.com/carcosa-dev/carcosa/transform"
)

// route is a Route whose callbacks record what they are given.
type route struct {
	policy lifecycle.Policy
	refuse error // what Complete returns, if not nil

	mu        sync.Mutex
	completed []string
	failed    map[string]string // upload → error code
}

func (r *route) Policy() *lifecycle.Policy { return &r.policy }

func (r *route) Complete(_ context.Context, rec *store.Upload) (json.RawMessage, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.completed = append(r.completed, rec.ID)
	if r.refuse != nil {
		return nil, r.refuse
	}
	return json.RawMessage(`{"ok":true}`), nil
}

func (r *route) Fail(_ context.Context, rec *store.Upload, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed[rec.ID] = apierr.Client(err).Code
}

// events records the Observer's events as "from→to" per upload.
type events struct {
	mu sync.Mutex
	by map[string][]string
}

func (ev *events) Observe(_ context.Context, e lifecycle.Event) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	step := fmt.Sprintf("%s→%s", e.From, e.To)
	if e.Deleted {
		step = fmt.Sprintf("%s→deleted", e.From)
	}
	ev.by[e.ID] = append(ev.by[e.ID], step)
}

type fixture struct {
	eng    *lifecycle.Engine
	store  *memstore.Store
	bucket storage.Storage
	route  *route
	events *events
}

func newFixture(t *testing.T, p lifecycle.Policy) *fixture {
	t.Helper()
	dir := t.TempDir()
	b, err := storage.Open(context.Background(), "file://"+filepath.ToSlash(filepath.Join(dir, "files")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	f := &fixture{
		store:  memstore.New(),
		bucket: b,
		route:  &route{policy: p, failed: map[string]string{}},
		events: &events{by: map[string][]string{}},
	}
	log := slog.New(slog.DiscardHandler)
	f.eng = lifecycle.New(lifecycle.Config{
		Store:    f.store,
		Buckets:  lifecycle.NewBuckets(map[string]storage.Storage{"": b}, func(lifecycle.Placement) string { return "" }, nil),
		Queue:    queue.NewMemory(&queue.MemoryOptions{Logger: log}),
		Images:   imaging.New(transform.New(transform.Limits{MaxPixels: 1 << 20, MaxMemory: 64 << 20, MaxSide: 1024, MaxInputBytes: 1 << 20, MaxOutputBytes: 1 << 20}), 1, nil),
		Observer: f.events,
		Log:      log,
		Routes: func(name string) (lifecycle.Route, bool) {
			return f.route, name == p.Name
		},
		Lock: func(context.Context, string) (func(), error) { return func() {}, nil },

		DataDir:        dir,
		ProcessTimeout: time.Minute,
	})
	return f
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var photos = lifecycle.Policy{Name: "photos", Accept: []string{"image"}, MaxFileSize: 1 << 20, MinFiles: 1, MaxFiles: 1, AsyncAbove: -1}

// A file taken by the engine ends ready: its bytes stored under their
// key, its record holding their SHA-256, OnComplete run once, and every
// state change told to the Observer, in order.
func TestReceiveSettleReady(t *testing.T) {
	f := newFixture(t, photos)
	ctx := context.Background()
	data := pngBytes(t)
	g := lifecycle.Grant{Owner: "alice"}
	p, err := f.eng.Receive(ctx, f.route, bytes.NewReader(data), "a.png", "image/png", g, nil, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.eng.Settle(ctx, f.route, p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if rec.State != store.Ready || rec.SHA256 != hex.EncodeToString(sum[:]) || rec.Type != "image/png" || rec.Owner != "alice" {
		t.Fatalf("record: %+v", rec)
	}
	obj, err := f.bucket.Open(ctx, rec.Key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj)
	obj.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("stored bytes differ from the file")
	}
	if string(rec.Result) != `{"ok":true}` || !slices.Equal(f.route.completed, []string{rec.ID}) {
		t.Fatalf("result %s, OnComplete ran for %v", rec.Result, f.route.completed)
	}
	want := []string{"→uploading", "uploading→processing", "processing→ready"}
	if got := f.events.by[rec.ID]; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}

	// Deleting it removes its bytes and its record, and says so.
	if _, err := f.eng.Delete(ctx, rec.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.bucket.Open(ctx, rec.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("bytes after Delete: %v", err)
	}
	if _, err := f.store.Get(ctx, rec.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("record after Delete: %v", err)
	}
	if got := f.events.by[rec.ID]; got[len(got)-1] != "ready→deleted" {
		t.Fatalf("events %q end without the deletion", got)
	}
}

// A file of a type the route does not take is refused as its first bytes
// arrive: it ends rejected, nothing of it is kept, and OnError sees it.
func TestReceiveRefusesType(t *testing.T) {
	f := newFixture(t, photos)
	ctx := context.Background()
	_, err := f.eng.Receive(ctx, f.route, bytes.NewReader([]byte("%PDF-1.7\n"+string(make([]byte, 100)))), "a.pdf", "application/pdf", lifecycle.Grant{}, nil, -1)
	if !errors.Is(err, apierr.ErrTypeNotAllowed) {
		t.Fatalf("Receive: %v, want type_not_allowed", err)
	}
	recs, err := f.store.List(ctx, store.Query{Limit: 10})
	if err != nil || len(recs) != 1 {
		t.Fatalf("records: %v %v", recs, err)
	}
	rec := recs[0]
	if rec.State != store.Rejected || rec.ErrorCode != apierr.ErrTypeNotAllowed.Code {
		t.Fatalf("record: %s %s", rec.State, rec.ErrorCode)
	}
	if f.route.failed[rec.ID] != "type_not_allowed" {
		t.Fatalf("OnError saw %q", f.route.failed[rec.ID])
	}
	if _, err := f.bucket.Open(ctx, rec.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("bytes of a refused file: %v", err)
	}
	want := []string{"→uploading", "uploading→rejected"}
	if got := f.events.by[rec.ID]; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// A file OnComplete refuses ends rejected with the route's code, and its
// stored bytes are removed.
func TestSettleRefusedByOnComplete(t *testing.T) {
	f := newFixture(t, photos)
	f.route.refuse = apierr.New(422, "not_a_cat", "no cat in the picture")
	ctx := context.Background()
	data := pngBytes(t)
	p, err := f.eng.Receive(ctx, f.route, bytes.NewReader(data), "a.png", "", lifecycle.Grant{}, nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.eng.Settle(ctx, f.route, p)
	var e *apierr.Error
	if !errors.As(err, &e) || e.Code != "not_a_cat" {
		t.Fatalf("Settle: %v", err)
	}
	recs, _ := f.store.List(ctx, store.Query{Limit: 10})
	rec := recs[0]
	if rec.State != store.Rejected || rec.ErrorCode != "not_a_cat" {
		t.Fatalf("record: %s %s", rec.State, rec.ErrorCode)
	}
	if _, err := f.bucket.Open(ctx, rec.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("bytes of a refused file: %v", err)
	}
	want := []string{"→uploading", "uploading→processing", "processing→rejected"}
	if got := f.events.by[rec.ID]; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}
