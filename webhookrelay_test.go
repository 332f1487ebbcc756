package carcosa_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store/postgres"
	"github.com/carcosa-dev/carcosa/webhook"
)

// On PostgreSQL, each change of state is logged in the same transaction
// as the change, and its webhook is sent from that log: changes made by an
// instance that sends no webhook (stopped before it could, as one that
// died right after writing) are sent by another instance, signed, each
// under one webhook-id.
func TestWebhooksFromChangeLog(t *testing.T) {
	dsn := testenv.Require(t, testenv.Postgres, "a PostgreSQL connection string, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	table := "relay_" + lifecycle.NewID()[:12]
	t.Cleanup(func() {
		if err := testenv.DropPostgresTables(context.Background(), dsn, table); err != nil {
			t.Error(err)
		}
	})

	secret := webhook.NewSecret()
	var (
		mu     sync.Mutex
		got    = map[string]map[string]string{} // upload → type → webhook-id
		traces = map[string]string{}            // type → traceparent
		bad    []string
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var b struct {
			Type string
			Data struct{ ID string }
		}
		err := webhook.Verify(req.Header, body, []string{secret}, webhook.DefaultTolerance)
		json.Unmarshal(body, &b)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			bad = append(bad, err.Error())
		}
		if got[b.Data.ID] == nil {
			got[b.Data.ID] = map[string]string{}
		}
		if prev, ok := got[b.Data.ID][b.Type]; ok && prev != req.Header.Get("webhook-id") {
			bad = append(bad, "two webhook-ids for one "+b.Type)
		}
		got[b.Data.ID][b.Type] = req.Header.Get("webhook-id")
		traces[b.Type] = req.Header.Get("traceparent")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()

	instance := func() *carcosa.Router {
		st, err := postgres.Open(t.Context(), dsn, &postgres.Options{Table: table})
		if err != nil {
			t.Fatal(err)
		}
		bk, err := storage.Open(context.Background(), "mem://")
		if err != nil {
			t.Fatal(err)
		}
		r, err := carcosa.New(carcosa.Config{
			DataDir: t.TempDir(), Store: st, Storage: bk,
			Webhooks: []webhook.Endpoint{{Name: "test", URL: recv.URL, Secrets: []string{secret}}},

			TracerProvider: sdktrace.NewTracerProvider(),
		})
		if err != nil {
			t.Fatal(err)
		}
		carcosa.Handle(r, "files", carcosa.Route[struct{}, struct{}]{
			Accept: []string{"any"},
			Middleware: func(context.Context, *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
				return carcosa.Grant[struct{}]{Owner: "alice"}, nil
			},
		})
		t.Cleanup(func() { r.Close(); st.Close(); bk.Close() })
		return r
	}

	// Instance A never sends: stopped before it started.
	a := instance()
	if err := a.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	srvA := httptest.NewServer(a)
	defer srvA.Close()
	body, ctype := multipartBody(t, part{field: "file", name: "a.txt", ctype: "text/plain", data: []byte("hello, change log")})
	// Traced by the browser: every webhook of the upload continues its
	// trace, whichever instance sends it.
	req, _ := http.NewRequest("POST", srvA.URL+"/routes/files", body)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("traceparent", clientParent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Uploads []struct{ ID, State string } }
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || len(out.Uploads) != 1 || out.Uploads[0].State != "ready" {
		t.Fatalf("upload on A: %s %+v", resp.Status, out)
	}
	id := out.Uploads[0].ID

	// Instance B sends A's changes, and its own.
	b := instance()
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	want := []string{webhook.TypeCreated, webhook.TypeReady, webhook.TypeDeleted}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, typ := range want {
			if _, ok := got[id][typ]; ok {
				n++
			}
		}
		ids := got[id]
		mu.Unlock()
		if n == len(want) {
			for typ, wid := range ids {
				if !strings.HasPrefix(wid, "msg_"+id+"_") {
					t.Errorf("%s: webhook-id %q is not the change's", typ, wid)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s the receiver has %v for upload %s, want %v", ids, id, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("deliveries failed: %v", bad)
	}
	for _, typ := range want {
		if tp := traces[typ]; !strings.HasPrefix(tp, "00-"+clientTrace+"-") {
			t.Errorf("%s webhook sent traceparent %q, want one in the upload's trace %s", typ, tp, clientTrace)
		}
	}
}
