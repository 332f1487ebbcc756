package carcosa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/storage/storagetest"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

// tieredBundle is a Router with two buckets besides the default: "small"
// for files of the "tiered" route up to 1000 bytes, "big" for the rest of
// the pro tier's, which fails over to the default bucket. Users named
// "<name>-<tier>" have that tier.
type tieredBundle struct {
	*testBundle
	small, big *storage.Bucket
	faulty     *storagetest.FaultyStorage
}

func setupTiered(t *testing.T, configure ...func(*carcosa.Config)) *tieredBundle {
	t.Helper()
	open := func() *storage.Bucket {
		b, err := storage.Open(context.Background(), "mem://")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	tb := &tieredBundle{small: open(), big: open()}
	tb.faulty = storagetest.Faulty(tb.big, 0, 1)
	tb.testBundle = setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Buckets = map[string]storage.Storage{"small": tb.small, "big": tb.faulty}
		c.Rules = []carcosa.Rule{
			{Route: "tiered", MaxSize: 1000, Bucket: "small"},
			{Route: "tiered", Tier: "pro", Bucket: "big"},
		}
		c.Failover = map[string]string{"big": ""}
		for _, f := range configure {
			f(c)
		}
	})
	carcosa.Handle(tb.router, "tiered", carcosa.Route[struct{}, struct{}]{
		Accept:      []string{"any"},
		MaxFileSize: 1 << 20,
		Middleware: func(ctx context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
			u, err := owner(req.HTTP)
			_, tier, _ := strings.Cut(u, "-")
			return carcosa.Grant[struct{}]{Owner: u, Tier: tier}, err
		},
	})
	return tb
}

// where reports which bucket holds upload id's bytes, checking that the
// record says the same and that no other bucket has them.
func (tb *tieredBundle) where(t *testing.T, id string, want []byte) string {
	t.Helper()
	rec, err := tb.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != store.Ready {
		t.Fatalf("upload %s is %s (%s)", id, rec.State, rec.ErrorCode)
	}
	found := ""
	for name, b := range map[string]storage.Storage{"": tb.storage, "small": tb.small, "big": tb.big} {
		obj, err := b.Open(context.Background(), rec.Key)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("bucket %q holds other bytes for %s (%v)", name, id, err)
		}
		if found != "" || name != rec.Bucket {
			t.Fatalf("upload %s found in bucket %q (and %q); its record says %q", id, name, found, rec.Bucket)
		}
		found = name
	}
	if found == "" && rec.Bucket != "" || found != rec.Bucket {
		t.Fatalf("upload %s is in no bucket (its record says %q)", id, rec.Bucket)
	}
	return found
}

func TestRulesPlaceUploads(t *testing.T) {
	tb := setupTiered(t)
	small, big := randomBytes(600), randomBytes(5000)

	// tus: the declared size and the tier choose.
	var id string // the last one, bob's file of another route
	for _, c := range []struct {
		user, route string
		data        []byte
		chunk       int
		want, what  string
	}{
		{"ann-free", "tiered", small, 256, "small", "a small file"},
		{"bob-pro", "tiered", big, 4096, "big", "a pro's large file"},
		{"cy-free", "tiered", big, 4096, "", "a free user's large file"},
		{"bob-pro", "files", small, 256, "", "a file of another route"}, // matches no rule
	} {
		var resp *http.Response
		var body []byte
		id, resp, body = tb.tusUpload(t, c.user, c.route, "a.bin", c.data, c.chunk)
		if resp.StatusCode != 204 {
			t.Fatalf("%s: %d %s", c.what, resp.StatusCode, body)
		}
		if b := tb.where(t, id, c.data); b != c.want {
			t.Errorf("%s went to %q, want %q", c.what, b, c.want)
		}
	}

	// multipart: the size is not declared, so only rules without size
	// bounds match.
	mb, ct := multipartBody(t, part{field: "file", name: "e.bin", data: small})
	resp, body := tb.do(t, "POST", tb.url("/routes/tiered"), "bob-pro", mb, map[string]string{"Content-Type": ct})
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if b := tb.where(t, uploadIDs(t, body)[0], small); b != "big" {
		t.Errorf("a pro's multipart file went to %q", b)
	}

	// Every file is served from its bucket.
	for _, rec := range []string{id} {
		r := tb.record(t, rec, "bob-pro")
		if got := tb.fetch(t, r.URL); !bytes.Equal(got, small) {
			t.Error("a file was not served byte for byte")
		}
	}

	st, err := tb.router.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]carcosa.Count{"small": {Files: 1, Bytes: 600}, "big": {Files: 2, Bytes: 5600}, "": {Files: 2, Bytes: 5600}}
	for name, c := range want {
		if st.Buckets[name] != c {
			t.Errorf("bucket %q: %+v, want %+v", name, st.Buckets[name], c)
		}
	}
	if st.Routes["tiered"] != (carcosa.Count{Files: 4, Bytes: 11200}) || st.Routes["files"] != (carcosa.Count{Files: 1, Bytes: 600}) {
		t.Errorf("routes: %+v", st.Routes)
	}
	if st.Total != (carcosa.Count{Files: 5, Bytes: 11800}) {
		t.Errorf("total: %+v", st.Total)
	}
}

func TestFailover(t *testing.T) {
	tb := setupTiered(t)
	big := randomBytes(5000)
	tb.faulty.SetRate(1)

	// The resumable upload's move into "big" fails: it goes to the
	// default bucket at once.
	id, resp, body := tb.tusUpload(t, "bob-pro", "tiered", "b.bin", big, 4096)
	if resp.StatusCode != 204 || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if b := tb.where(t, id, big); b != "" {
		t.Errorf("the file went to %q, want the failover", b)
	}
	injected := tb.faulty.Injected()
	if injected == 0 {
		t.Fatal("the failing bucket was not tried")
	}
	// While "big" is failing, new files are placed in its failover without
	// trying it.
	mb, ct := multipartBody(t, part{field: "file", name: "e.bin", data: big})
	resp, body = tb.do(t, "POST", tb.url("/routes/tiered"), "bob-pro", mb, map[string]string{"Content-Type": ct})
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if b := tb.where(t, uploadIDs(t, body)[0], big); b != "" {
		t.Errorf("the file went to %q, want the failover", b)
	}
	if tb.faulty.Injected() != injected {
		t.Error("a bucket known to fail was tried again at once")
	}
	r := tb.record(t, id, "bob-pro")
	if got := tb.fetch(t, r.URL); !bytes.Equal(got, big) {
		t.Error("the file was not served byte for byte from the failover")
	}
}

func TestBucketConfigErrors(t *testing.T) {
	mem := func() storage.Storage {
		b, err := storage.Open(context.Background(), "mem://")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	for name, cfg := range map[string]carcosa.Config{
		"unknown rule bucket": {Rules: []carcosa.Rule{{Bucket: "nope"}}},
		"empty bucket name":   {Buckets: map[string]storage.Storage{"": mem()}},
		"nil bucket":          {Buckets: map[string]storage.Storage{"a": nil}},
		"sizes out of order":  {Buckets: map[string]storage.Storage{"a": mem()}, Rules: []carcosa.Rule{{MinSize: 10, MaxSize: 5, Bucket: "a"}}},
		"unknown failover":    {Failover: map[string]string{"": "nope"}},
		"failover to itself":  {Buckets: map[string]storage.Storage{"a": mem()}, Failover: map[string]string{"a": "a"}},
	} {
		cfg.DataDir = t.TempDir()
		cfg.Store = memstore.New()
		r, err := carcosa.New(cfg)
		if err == nil {
			r.Close()
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// uploadIDs reads the IDs of a multipart response's uploads.
func uploadIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var out struct {
		Uploads []record `json:"uploads"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(out.Uploads))
	for i, u := range out.Uploads {
		ids[i] = u.ID
	}
	return ids
}
