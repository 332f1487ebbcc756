package carcosa_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/safefetch"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
	"github.com/carcosa-dev/carcosa/webhook"
)

// hook is a webhook request as a receiver got it.
type hook struct {
	id       string
	verified error
	body     struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      struct {
			ID     string `json:"id"`
			State  string `json:"state"`
			Owner  string `json:"owner"`
			Tenant string `json:"tenant"`
		} `json:"data"`
	}
}

func TestWebhooksOfAMultipartUpload(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	var mu sync.Mutex
	var got []hook
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, _ := io.ReadAll(req.Body)
		h := hook{id: req.Header.Get(webhook.HeaderID), verified: webhook.Verify(req.Header, raw, []string{secret}, 0)}
		if err := json.Unmarshal(raw, &h.body); err != nil {
			t.Errorf("body %s: %v", raw, err)
		}
		mu.Lock()
		got = append(got, h)
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	var observed sync.Map
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		c.Webhooks = []webhook.Endpoint{{Name: "ops", URL: rcv.URL, Secrets: []string{secret}}}
		c.Observer = carcosa.ObserverFunc(func(ctx context.Context, e carcosa.Event) { observed.Store(e.To, true) })
	})
	if tb.router.Webhooks() == nil {
		t.Fatal("Webhooks() is nil with Config.Webhooks set")
	}
	body, ct := multipartBody(t,
		part{field: "input", data: []byte(`{"album":"summer"}`)},
		part{field: "file", name: "a.png", ctype: "image/png", data: pngBytes(t, 32)},
	)
	resp, raw := tb.do(t, "POST", tb.url("/routes/images"), "alice@acme", body, map[string]string{"Content-Type": ct})
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	var res multipartResult
	if err := json.Unmarshal(raw, &res); err != nil || len(res.Uploads) != 1 {
		t.Fatalf("%s: %v", raw, err)
	}
	id := res.Uploads[0].ID

	byType := map[string]hook{}
	deadline := time.Now().Add(10 * time.Second)
	for len(byType) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("webhooks received: %v; want upload.created and upload.ready", byType)
		}
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		for _, h := range got {
			byType[h.body.Type] = h
		}
		mu.Unlock()
	}
	created, ready := byType[webhook.TypeCreated], byType[webhook.TypeReady]
	for _, h := range []hook{created, ready} {
		if h.verified != nil {
			t.Errorf("%s: Verify: %v", h.body.Type, h.verified)
		}
		if d := h.body.Data; d.ID != id || d.Owner != "alice" || d.Tenant != "acme" {
			t.Errorf("%s: data %+v, want upload %s of alice@acme", h.body.Type, d, id)
		}
	}
	if ready.body.Data.State != "ready" || ready.body.Timestamp.Before(created.body.Timestamp) || created.id == ready.id {
		t.Errorf("ready %+v after created %+v: want state ready, a later timestamp and another webhook-id", ready, created)
	}
	if len(byType) != 2 {
		t.Errorf("webhook types %v, want only created and ready", byType)
	}
	if _, ok := observed.Load(store.Ready); !ok {
		t.Error("Config.Observer was not told of the upload's ready state")
	}
	dels, err := tb.router.Webhooks().Deliveries(context.Background(), store.DeliveryQuery{EndpointID: "config:ops"})
	if err != nil || len(dels) < 2 {
		t.Errorf("Deliveries = %d, %v; want the two logged", len(dels), err)
	}
}

func TestConfigWebhooksValidated(t *testing.T) {
	t.Parallel()
	good := webhook.NewSecret()
	for _, tc := range []struct {
		eps  []webhook.Endpoint
		want string
	}{
		{[]webhook.Endpoint{{Name: "a", URL: "http://x", Secrets: []string{"whsec_nope"}}}, "Config.Webhooks[0]: Secrets[0]"},
		{[]webhook.Endpoint{{Name: "a", URL: "ftp://x", Secrets: []string{good}}}, "Config.Webhooks[0]: URL"},
		{[]webhook.Endpoint{{Name: "a", URL: "http://x", Secrets: []string{good}}, {Name: "a", URL: "http://y", Secrets: []string{good}}}, "Config.Webhooks[1]: Name"},
	} {
		_, err := carcosa.New(carcosa.Config{DataDir: t.TempDir(), Store: memstore.New(), Webhooks: tc.eps})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New = %v, want an error naming %s", err, tc.want)
		}
	}
}

// A tenant's endpoint, registered through Router.Webhooks, receives its
// tenant's uploads only, signed with its own secret.
func TestTenantWebhooks(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []hook
	var raws [][]byte
	var headers []http.Header
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, _ := io.ReadAll(req.Body)
		var h hook
		json.Unmarshal(raw, &h.body)
		mu.Lock()
		got, raws, headers = append(got, h), append(raws, raw), append(headers, req.Header.Clone())
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	u, _ := url.Parse(rcv.URL)
	p, _ := strconv.Atoi(u.Port())
	tb := setupConfig(t, memstore.New(), func(c *carcosa.Config) {
		// The test receiver listens on loopback, which tenants' endpoints
		// may not reach unless allowed.
		c.Fetch = safefetch.Options{AllowedNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, AllowedPorts: []int{p}}
	})
	wh := tb.router.Webhooks()
	if wh == nil {
		t.Fatal("Webhooks() is nil with a Store that keeps webhooks")
	}
	ep, secret, err := wh.Register(context.Background(), webhook.Registration{Tenant: "acme", URL: rcv.URL, Types: []string{webhook.TypeReady}})
	if err != nil {
		t.Fatal(err)
	}
	upload := func(user string) string {
		body, ct := multipartBody(t,
			part{field: "input", data: []byte(`{"album":"summer"}`)},
			part{field: "file", name: "a.png", ctype: "image/png", data: pngBytes(t, 32)},
		)
		resp, raw := tb.do(t, "POST", tb.url("/routes/images"), user, body, map[string]string{"Content-Type": ct})
		var res multipartResult
		if resp.StatusCode != 201 || json.Unmarshal(raw, &res) != nil || len(res.Uploads) != 1 {
			t.Fatalf("%d %s", resp.StatusCode, raw)
		}
		return res.Uploads[0].ID
	}
	upload("bob@other")
	id := upload("alice@acme")
	dels := func() []*store.WebhookDelivery {
		d, err := wh.Deliveries(context.Background(), store.DeliveryQuery{EndpointID: ep.ID})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(dels()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no delivery to the tenant's endpoint")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].body.Type != webhook.TypeReady || got[0].body.Data.ID != id || got[0].body.Data.Tenant != "acme" {
		t.Fatalf("the tenant's endpoint got %+v; want only upload.ready of %s", got, id)
	}
	if err := webhook.Verify(headers[0], raws[0], []string{secret}, 0); err != nil {
		t.Errorf("Verify with the tenant's secret: %v", err)
	}
}
