package carcosa_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/quota"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
	"github.com/carcosa-dev/carcosa/store/postgres"
	"github.com/carcosa-dev/carcosa/store/sqlite"
)

type quotaErr struct {
	Error struct {
		Code  string            `json:"code"`
		Quota carcosa.QuotaLeft `json:"quota"`
	} `json:"error"`
}

func wantQuotaError(t *testing.T, resp *http.Response, body []byte, status int) quotaErr {
	t.Helper()
	var e quotaErr
	if resp.StatusCode != status || json.Unmarshal(body, &e) != nil || e.Error.Code != "quota_exceeded" {
		t.Fatalf("%d %s; want %d quota_exceeded", resp.StatusCode, body, status)
	}
	return e
}

// usage reads GET B/usage for user on route: its quotas by scope and
// route.
func (tb *testBundle) usage(t *testing.T, user, route string) map[string]carcosa.UsageScope {
	t.Helper()
	resp, body := tb.do(t, "GET", tb.url("/usage?route="+route), user, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET usage: %d %s", resp.StatusCode, body)
	}
	var out struct{ Quotas []carcosa.UsageScope }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	m := map[string]carcosa.UsageScope{}
	for _, q := range out.Quotas {
		m[q.Scope+"/"+q.Route] = q
	}
	return m
}

func wantUsed(t *testing.T, what string, got carcosa.UsageScope, bytes, files int64) {
	t.Helper()
	if got.UsedBytes != bytes || got.UsedFiles != files {
		t.Fatalf("%s: used %d bytes, %d files; want %d, %d", what, got.UsedBytes, got.UsedFiles, bytes, files)
	}
}

// An owner's quota is reserved at creation by declared size, settled at
// ready, and given back on deletion and rejection; what goes over it is
// refused with what is left.
func TestQuotaOwner(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Quota = &quota.Policy{Owner: quota.Limits{Bytes: 10_000, Files: 3}}
	})
	md := tusMetadata("route", "files", "filename", "a.bin")
	create := func(user string, n int64) (*http.Response, []byte) {
		return tb.tusCreate(t, user, n, md, nil)
	}
	first, _ := create("alice", 4000)
	second, _ := create("alice", 4000)
	if first.StatusCode != 201 || second.StatusCode != 201 {
		t.Fatalf("creations: %d, %d", first.StatusCode, second.StatusCode)
	}
	wantUsed(t, "after two creations", tb.usage(t, "alice", "files")["owner/"], 8000, 2)

	// Over the bytes left: 429, with what is left.
	resp, body := create("alice", 4000)
	e := wantQuotaError(t, resp, body, 429)
	if q := e.Error.Quota; q.Scope != "owner" || q.LeftBytes != 2000 || q.LeftFiles != 1 || q.LimitBytes != 10_000 || q.Size != 4000 {
		t.Fatalf("quota in the error: %+v", q)
	}
	// Larger than the whole quota: 413, as it can never fit.
	resp, body = create("alice", 20_000)
	wantQuotaError(t, resp, body, 413)
	// Another owner has a quota of its own.
	if resp, body := create("bob", 9000); resp.StatusCode != 201 {
		t.Fatalf("bob: %d %s", resp.StatusCode, body)
	}

	// The first upload finishes: its reservation is its size.
	data := randomBytes(4000)
	if resp, body := tb.tusPatch(t, first.Header.Get("Location"), "alice", 0, data, nil); resp.StatusCode != 204 {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	wantUsed(t, "after the first is ready", tb.usage(t, "alice", "files")["owner/"], 8000, 2)

	// Ending the second one gives its reservation back.
	if resp, body := tb.do(t, "DELETE", second.Header.Get("Location"), "alice", nil, map[string]string{"Tus-Resumable": "1.0.0"}); resp.StatusCode != 204 {
		t.Fatalf("tus DELETE: %d %s", resp.StatusCode, body)
	}
	wantUsed(t, "after termination", tb.usage(t, "alice", "files")["owner/"], 4000, 1)

	// A multipart file reserves at most the request's length and settles
	// to its size.
	mp, ct := multipartBody(t, part{field: "file", name: "m.bin", data: randomBytes(700)})
	resp, body = tb.do(t, "POST", tb.url("/routes/files"), "alice", mp, map[string]string{"Content-Type": ct})
	if resp.StatusCode != 201 {
		t.Fatalf("multipart: %d %s", resp.StatusCode, body)
	}
	var got multipartResult
	json.Unmarshal(body, &got)
	wantUsed(t, "after a multipart file", tb.usage(t, "alice", "files")["owner/"], 4700, 2)

	// A rejected file gives its reservation back.
	mp, ct = multipartBody(t, part{field: "file", name: "x.png", data: randomBytes(500)})
	resp, body = tb.do(t, "POST", tb.url("/routes/images"), "alice", mp, map[string]string{"Content-Type": ct})
	if resp.StatusCode < 400 {
		t.Fatalf("a non-image on images: %d %s", resp.StatusCode, body)
	}
	wantUsed(t, "after a rejection", tb.usage(t, "alice", "images")["owner/"], 4700, 2)

	// Deleting a ready file gives its bytes back.
	if resp, body := tb.do(t, "DELETE", tb.url("/uploads/"+got.Uploads[0].ID), "alice", nil, nil); resp.StatusCode != 204 {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	wantUsed(t, "after a deletion", tb.usage(t, "alice", "files")["owner/"], 4000, 1)

	// Limits stored for one owner win over the policy, at once.
	ctx := carcosa.WithActor(t.Context(), "ops")
	scope := quota.Scope{Kind: store.ScopeOwner, Owner: "alice"}
	if err := tb.router.SetQuota(ctx, scope, &quota.Limits{Bytes: 100_000, Files: 10}); err != nil {
		t.Fatal(err)
	}
	if resp, body := create("alice", 50_000); resp.StatusCode != 201 {
		t.Fatalf("after raising alice's quota: %d %s", resp.StatusCode, body)
	}
	u := tb.usage(t, "alice", "files")["owner/"]
	if u.LimitBytes != 100_000 || u.LeftBytes != 100_000-54_000 {
		t.Fatalf("usage after raising: %+v", u)
	}
	events, err := tb.router.AuditLog(t.Context(), store.AuditQuery{Action: store.AuditQuotaChanged})
	if err != nil || len(events) != 1 || events[0].Actor != "ops" || events[0].Subject != scope.String() {
		t.Fatalf("audit log: %+v, %v", events, err)
	}
	if resp, body := create("bob", 2000); resp.StatusCode != 429 {
		t.Fatalf("bob, still on the policy's quota: %d %s", resp.StatusCode, body)
	}
}

// A tenant's quota binds all its owners together, and per-route quotas
// bind one route's files.
func TestQuotaTenantAndRoute(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Quota = &quota.Policy{
			Tenant: quota.Limits{Files: 2},
			Routes: map[string]quota.RouteLimits{"docs": {Owner: quota.Limits{Bytes: 100}}},
		}
	})
	md := tusMetadata("route", "files", "filename", "a.bin")
	for _, user := range []string{"alice@acme", "bob@acme"} {
		if resp, body := tb.tusCreate(t, user, 10, md, nil); resp.StatusCode != 201 {
			t.Fatalf("%s: %d %s", user, resp.StatusCode, body)
		}
	}
	resp, body := tb.tusCreate(t, "carol@acme", 10, md, nil)
	if e := wantQuotaError(t, resp, body, 429); e.Error.Quota.Scope != "tenant" || e.Error.Quota.LeftFiles != 0 {
		t.Fatalf("quota in the error: %+v", e.Error.Quota)
	}
	// Another tenant, and no tenant, are not bound by acme's quota.
	for _, user := range []string{"carol@other", "carol"} {
		if resp, body := tb.tusCreate(t, user, 10, md, nil); resp.StatusCode != 201 {
			t.Fatalf("%s: %d %s", user, resp.StatusCode, body)
		}
	}
	// docs holds 100 bytes per owner; files is not bound by it.
	docs := tusMetadata("route", "docs", "filename", "a.txt")
	if resp, body := tb.tusCreate(t, "dave", 80, docs, nil); resp.StatusCode != 201 {
		t.Fatalf("docs: %d %s", resp.StatusCode, body)
	}
	resp, body = tb.tusCreate(t, "dave", 80, docs, nil)
	if e := wantQuotaError(t, resp, body, 429); e.Error.Quota.Route != "docs" || e.Error.Quota.LeftBytes != 20 {
		t.Fatalf("quota in the error: %+v", e.Error.Quota)
	}
	if resp, body := tb.tusCreate(t, "dave", 80, md, nil); resp.StatusCode != 201 {
		t.Fatalf("files: %d %s", resp.StatusCode, body)
	}
	u := tb.usage(t, "dave", "docs")
	wantUsed(t, "dave on every route", u["owner/"], 160, 2)
	wantUsed(t, "dave on docs", u["owner/docs"], 80, 1)
}

// A hundred parallel creations against a nearly full quota never take it
// over, on each Store that keeps quotas.
func TestQuotaParallelCreations(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			s, err := sqlite.Open(filepath.Join(t.TempDir(), "q.db"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"postgres": func(t *testing.T) store.Store {
			dsn := testenv.Require(t, testenv.Postgres, "a PostgreSQL connection string, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
			schema := "quota_" + randomID()[:12]
			pool, err := pgxpool.New(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
				pool.Close()
			})
			s, err := postgres.Open(t.Context(), dsn, &postgres.Options{Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const size, room, creators = 1000, 37, 100
			st := open(t)
			tb := setupConfig(t, st, func(c *carcosa.Config) {
				c.Quota = &quota.Policy{Owner: quota.Limits{Bytes: room*size + size/2}}
			})
			// Nearly full: one file takes room for all but `room` more.
			ctx := t.Context()
			var wg sync.WaitGroup
			codes := make([]int, creators)
			for i := range creators {
				wg.Go(func() {
					resp, body := tb.tusCreate(t, "alice", size, tusMetadata("route", "files", "filename", fmt.Sprint(i, ".bin")), nil)
					codes[i] = resp.StatusCode
					if resp.StatusCode != 201 && resp.StatusCode != 429 {
						t.Errorf("creation %d: %d %s", i, resp.StatusCode, body)
					}
				})
			}
			wg.Wait()
			created := 0
			for _, c := range codes {
				if c == 201 {
					created++
				}
			}
			if created != room {
				t.Fatalf("%d creations of %d succeeded; the quota has room for %d", created, creators, room)
			}
			wantUsed(t, "usage", tb.usage(t, "alice", "files")["owner/"], room*size, room)
			recs, err := st.List(ctx, store.Query{Owner: "alice", Limit: store.MaxLimit})
			if err != nil || len(recs) != room {
				t.Fatalf("%d records, want %d (%v)", len(recs), room, err)
			}
		})
	}
}

// The parts of a concatenation hold the bytes until the final upload is
// made of them, and the final reserves its whole size beside them; once it
// is stored the file counts once, at its size.
func TestQuotaConcatenation(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Quota = &quota.Policy{Owner: quota.Limits{Bytes: 7000, Files: 3}}
	})
	a, b := randomBytes(1500), randomBytes(2000)
	parts := tb.tusPartials(t, "alice", "files", a, b)
	wantUsed(t, "the parts", tb.usage(t, "alice", "files")["owner/"], 3500, 2)
	resp, body := tb.tusCreate(t, "alice", -1, tusMetadata("route", "files", "filename", "whole.bin"),
		map[string]string{"Upload-Concat": "final;" + parts[0] + " " + parts[1]})
	if resp.StatusCode != 201 {
		t.Fatalf("final: %d %s", resp.StatusCode, body)
	}
	rec := tb.record(t, lastSegment(resp.Header.Get("Location")), "alice")
	if rec.State != "ready" || rec.Size != 3500 {
		t.Fatalf("final: %+v", rec)
	}
	wantUsed(t, "the final upload", tb.usage(t, "alice", "files")["owner/"], 3500, 1)
}

// Without Config.Quota there is no usage to report.
func TestQuotaNone(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	resp, body := tb.do(t, "GET", tb.url("/usage?route=files"), "alice", nil, nil)
	wantError(t, resp, body, 404, "not_found")
	if _, err := tb.router.Usage(t.Context(), "", "alice", "files"); !errors.Is(err, carcosa.ErrNoQuotas) {
		t.Fatalf("Usage: %v", err)
	}
}

// GET B/usage identifies the caller with the route's middleware.
func TestQuotaUsageNeedsCaller(t *testing.T) {
	t.Parallel()
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Quota = &quota.Policy{Owner: quota.Limits{Files: 1}}
	})
	resp, body := tb.do(t, "GET", tb.url("/usage?route=files"), "", nil, nil)
	wantError(t, resp, body, 401, "unauthorized")
	resp, body = tb.do(t, "GET", tb.url("/usage?route=nope"), "alice", nil, nil)
	wantError(t, resp, body, 404, "unknown_route")
	// A route whose input is required still identifies its callers.
	u := tb.usage(t, "alice@acme", "images")
	if q := u["owner/"]; q.LimitFiles != 1 || q.LeftFiles != 1 || q.LimitBytes != -1 {
		t.Fatalf("usage: %+v", u)
	}
}

// A presign request reserves every file's declared size, all or none, and
// a completed file settles at its size.
func TestQuotaPresign(t *testing.T) {
	t.Parallel()
	var db store.Store
	pb := newPresignBundle(t, s3Bucket(t), func(c *carcosa.Config) {
		c.Quota = &quota.Policy{Owner: quota.Limits{Files: 2, Bytes: 100_000}}
		db = c.Store
	})
	img := pngBytes(t, 24)
	file := map[string]any{"name": "a.png", "size": len(img), "type": "image/png"}
	resp, body := pb.post(t, "/routes/images/presign", map[string]any{"files": []any{file, file, file}})
	wantQuotaError(t, resp, body, 429)
	if recs, err := db.List(t.Context(), store.Query{}); err != nil || len(recs) != 0 {
		t.Fatalf("a refused presign left %d records (%v)", len(recs), err)
	}
	ledger := db.(store.Quotas)
	scope := store.QuotaScope{Kind: store.ScopeOwner, Owner: "alice"}
	if u, err := ledger.QuotaUsage(t.Context(), scope); err != nil || u != (store.QuotaUsage{}) {
		t.Fatalf("usage after a refused presign: %+v (%v)", u, err)
	}
	// Declared larger than it is: the size declared is reserved, and the
	// completion refuses the file (size_mismatch), giving it back.
	ups := pb.presign(t, file, map[string]any{"name": "b.png", "size": 50_000, "type": "image/png"})
	if u, _ := ledger.QuotaUsage(t.Context(), scope); u != (store.QuotaUsage{Bytes: int64(len(img)) + 50_000, Files: 2}) {
		t.Fatalf("usage after presigning: %+v", u)
	}
	put(t, ups[0], img)
	if resp, body := pb.post(t, "/uploads/"+ups[0].ID+"/complete", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("complete: %d %s", resp.StatusCode, body)
	}
	put(t, ups[1], img)
	if resp, body := pb.post(t, "/uploads/"+ups[1].ID+"/complete", nil); resp.StatusCode != 422 {
		t.Fatalf("complete of a file smaller than declared: %d %s", resp.StatusCode, body)
	}
	if u, _ := ledger.QuotaUsage(t.Context(), scope); u != (store.QuotaUsage{Bytes: int64(len(img)), Files: 1}) {
		t.Fatalf("usage after completing: %+v", u)
	}
}
