package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/store"
)

// The conformance tests of store.Webhooks. They run for every Store that
// implements it, and are skipped for one that does not.

func webhooksOf(t *testing.T, s store.Store) store.Webhooks {
	t.Helper()
	w, ok := s.(store.Webhooks)
	if !ok {
		t.Skipf("%T does not implement store.Webhooks", s)
	}
	return w
}

// sampleEndpoint returns an endpoint with every field set.
func sampleEndpoint(id, tenant string) *store.WebhookEndpoint {
	return &store.WebhookEndpoint{
		ID:          id,
		Tenant:      tenant,
		URL:         "https://hooks.example/" + id + "?q=ünïcode",
		Secrets:     []string{"whsec_bmV3", "whsec_b2xk"},
		Rotating:    time.Date(2025, 6, 1, 10, 0, 0, 250000000, time.FixedZone("X", 2*3600)),
		Types:       []string{"upload.ready", "upload.rejected"},
		Disabled:    true,
		Description: "the CRM ünïcode",
		CreatedAt:   time.Date(2025, 5, 1, 9, 30, 0, 123000000, time.UTC),
		UpdatedAt:   time.Date(2025, 5, 2, 9, 30, 0, 456000000, time.UTC),
	}
}

// sameTime compares times to the millisecond, as Diff does.
func sameTime(want, got time.Time) bool {
	return want.Truncate(time.Millisecond).Equal(got.Truncate(time.Millisecond))
}

// endpointDiff lists the fields in which got differs from want. Times are
// compared to the millisecond; an empty list equals a nil one.
func endpointDiff(want, got *store.WebhookEndpoint) []string {
	var d []string
	add := func(name string, w, g any) { d = append(d, fmt.Sprintf("%s: got %v, want %v", name, g, w)) }
	if want.ID != got.ID {
		add("ID", want.ID, got.ID)
	}
	if want.Tenant != got.Tenant {
		add("Tenant", want.Tenant, got.Tenant)
	}
	if want.URL != got.URL {
		add("URL", want.URL, got.URL)
	}
	if !slices.Equal(want.Secrets, got.Secrets) {
		add("Secrets", want.Secrets, got.Secrets)
	}
	if !sameTime(want.Rotating, got.Rotating) || want.Rotating.IsZero() != got.Rotating.IsZero() {
		add("Rotating", want.Rotating, got.Rotating)
	}
	if !slices.Equal(want.Types, got.Types) {
		add("Types", want.Types, got.Types)
	}
	if want.Disabled != got.Disabled {
		add("Disabled", want.Disabled, got.Disabled)
	}
	if want.Description != got.Description {
		add("Description", want.Description, got.Description)
	}
	if !sameTime(want.CreatedAt, got.CreatedAt) {
		add("CreatedAt", want.CreatedAt, got.CreatedAt)
	}
	if !sameTime(want.UpdatedAt, got.UpdatedAt) {
		add("UpdatedAt", want.UpdatedAt, got.UpdatedAt)
	}
	return d
}

func requireEndpoint(t *testing.T, what string, want, got *store.WebhookEndpoint) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil endpoint", what)
	}
	if d := endpointDiff(want, got); len(d) > 0 {
		t.Fatalf("%s differs: %q", what, d)
	}
}

func mustGetEndpoint(t *testing.T, w store.Webhooks, id string) *store.WebhookEndpoint {
	t.Helper()
	e, err := w.GetEndpoint(ctx, id)
	if err != nil {
		t.Fatalf("GetEndpoint(%s): %v", id, err)
	}
	return e
}

func endpointIDs(t *testing.T, w store.Webhooks, tenant string) []string {
	t.Helper()
	es, err := w.ListEndpoints(ctx, tenant)
	if err != nil {
		t.Fatalf("ListEndpoints(%q): %v", tenant, err)
	}
	ids := []string{}
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	return ids
}

func testWebhookEndpoints(t *testing.T, s store.Store) {
	w := webhooksOf(t, s)
	want := sampleEndpoint("we1", "acme ünïcode")
	if err := w.CreateEndpoint(ctx, want); err != nil {
		t.Fatal(err)
	}
	requireEndpoint(t, "GetEndpoint", want, mustGetEndpoint(t, w, "we1"))

	if err := w.CreateEndpoint(ctx, sampleEndpoint("we1", "other")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateEndpoint of a taken ID: %v, want ErrExists", err)
	}
	requireEndpoint(t, "endpoint after a refused duplicate", want, mustGetEndpoint(t, w, "we1"))
	if err := w.CreateEndpoint(ctx, sampleEndpoint("", "acme")); err == nil {
		t.Fatal("CreateEndpoint with an empty ID succeeded")
	}
	if _, err := w.GetEndpoint(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetEndpoint(nope): %v, want ErrNotFound", err)
	}

	// The store fills in the times an endpoint lacks; nil lists and the
	// zero Rotating read back as such.
	bare := &store.WebhookEndpoint{ID: "we2", Tenant: "acme", URL: "https://hooks.example/2"}
	before := time.Now()
	if err := w.CreateEndpoint(ctx, bare); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	got := mustGetEndpoint(t, w, "we2")
	if !inWindow(got.CreatedAt, before, after) || !inWindow(got.UpdatedAt, before, after) {
		t.Errorf("times = %v, %v; want between %v and %v", got.CreatedAt, got.UpdatedAt, before, after)
	}
	if len(got.Secrets) != 0 || len(got.Types) != 0 || !got.Rotating.IsZero() || got.Disabled || got.Description != "" {
		t.Errorf("bare endpoint read back as %+v", got)
	}

	// Neither the caller's endpoint nor a returned one shares memory with
	// the store.
	e := sampleEndpoint("we3", "acme")
	if err := w.CreateEndpoint(ctx, e); err != nil {
		t.Fatal(err)
	}
	e.Secrets[0], e.Types[0] = "changed", "changed"
	got = mustGetEndpoint(t, w, "we3")
	requireEndpoint(t, "endpoint after the caller changed its own", sampleEndpoint("we3", "acme"), got)
	got.Secrets[0], got.Types[1] = "changed", "changed"
	requireEndpoint(t, "endpoint after a returned copy changed", sampleEndpoint("we3", "acme"), mustGetEndpoint(t, w, "we3"))
}

func testWebhookEndpointsList(t *testing.T, s store.Store) {
	w := webhooksOf(t, s)
	if ids := endpointIDs(t, w, ""); len(ids) != 0 {
		t.Fatalf("ListEndpoints of an empty store = %q", ids)
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// Created out of order, so that oldest first is not insertion order.
	for _, c := range []struct {
		id, tenant string
		age        int
	}{
		{"c", "acme", 3}, {"a", "acme", 1}, {"x", "globex", 2}, {"b", "acme", 2}, {"y", "globex", 0},
	} {
		e := sampleEndpoint(c.id, c.tenant)
		e.CreatedAt = base.Add(time.Duration(c.age) * time.Hour)
		if err := w.CreateEndpoint(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for tenant, want := range map[string][]string{
		"acme":   {"a", "b", "c"},
		"globex": {"y", "x"},
		"":       {"y", "a", "b", "x", "c"}, // b and x were created at once: by ID
		"none":   {},
	} {
		if got := endpointIDs(t, w, tenant); !slices.Equal(got, want) {
			t.Errorf("ListEndpoints(%q) = %q, want %q", tenant, got, want)
		}
	}
	es, err := w.ListEndpoints(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := sampleEndpoint("a", "acme")
	want.CreatedAt = base.Add(time.Hour)
	requireEndpoint(t, "listed endpoint", want, es[0])
}

func testWebhookEndpointUpdate(t *testing.T, s store.Store) {
	w := webhooksOf(t, s)
	orig := sampleEndpoint("we1", "acme")
	if err := w.CreateEndpoint(ctx, orig); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	got, err := w.UpdateEndpoint(ctx, "we1", func(e *store.WebhookEndpoint) error {
		requireEndpoint(t, "fn's endpoint", orig, e)
		e.URL = "https://hooks.example/new"
		e.Secrets = []string{"whsec_bmV3ZXN0"}
		e.Rotating = time.Time{}
		e.Types = append(e.Types, "upload.failed")
		e.Disabled = false
		e.Description = "changed"
		// These cannot change.
		e.ID, e.Tenant, e.CreatedAt = "other", "other", e.CreatedAt.Add(time.Hour)
		e.UpdatedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		return nil
	})
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	want := sampleEndpoint("we1", "acme")
	want.URL = "https://hooks.example/new"
	want.Secrets = []string{"whsec_bmV3ZXN0"}
	want.Rotating = time.Time{}
	want.Types = []string{"upload.ready", "upload.rejected", "upload.failed"}
	want.Disabled = false
	want.Description = "changed"
	want.UpdatedAt = got.UpdatedAt
	if !inWindow(got.UpdatedAt, before, after) {
		t.Errorf("UpdatedAt = %v, want between %v and %v", got.UpdatedAt, before, after)
	}
	requireEndpoint(t, "UpdateEndpoint's result", want, got)
	requireEndpoint(t, "updated endpoint", want, mustGetEndpoint(t, w, "we1"))
	if _, err := w.GetEndpoint(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetEndpoint(other) after an ID change: %v, want ErrNotFound", err)
	}
	if ids := endpointIDs(t, w, "other"); len(ids) != 0 {
		t.Fatalf("the tenant changed: ListEndpoints(other) = %q", ids)
	}

	// The result is the caller's: changing it changes nothing stored.
	got.Types[0] = "mine"
	requireEndpoint(t, "endpoint after its returned copy changed", want, mustGetEndpoint(t, w, "we1"))

	// An error from fn is returned as is, and nothing is written.
	errFn := errors.New("no thanks")
	_, err = w.UpdateEndpoint(ctx, "we1", func(e *store.WebhookEndpoint) error {
		e.URL = "https://hooks.example/lost"
		e.Types[0] = "lost"
		e.Disabled = true
		return errFn
	})
	if !errors.Is(err, errFn) {
		t.Fatalf("UpdateEndpoint with a failing fn: %v, want %v", err, errFn)
	}
	requireEndpoint(t, "endpoint after a failed update", want, mustGetEndpoint(t, w, "we1"))

	called := false
	_, err = w.UpdateEndpoint(ctx, "nope", func(*store.WebhookEndpoint) error { called = true; return nil })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateEndpoint(nope): %v, want ErrNotFound", err)
	}
	if called {
		t.Error("UpdateEndpoint(nope) called fn")
	}
}

// testWebhookEndpointConcurrentUpdate has 20 goroutines each add a type to
// one endpoint: no update may be lost.
func testWebhookEndpointConcurrentUpdate(t *testing.T, s store.Store) {
	w := webhooksOf(t, s)
	if err := w.CreateEndpoint(ctx, &store.WebhookEndpoint{ID: "we1", Tenant: "acme", URL: "https://hooks.example/"}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = w.UpdateEndpoint(ctx, "we1", func(e *store.WebhookEndpoint) error {
				pause() // widen the window between read and write
				e.Types = append(e.Types, fmt.Sprintf("t%02d", i))
				return nil
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got := mustGetEndpoint(t, w, "we1").Types
	slices.Sort(got)
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("t%02d", i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Types = %q, want %q", got, want)
	}
}

func testWebhookEndpointDelete(t *testing.T, s store.Store) {
	w := webhooksOf(t, s)
	for _, id := range []string{"we1", "we2"} {
		if err := w.CreateEndpoint(ctx, sampleEndpoint(id, "acme")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.PutEvent(ctx, &store.WebhookEvent{ID: "ev1", Type: "upload.ready", Tenant: "acme", Body: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := w.AppendDelivery(ctx, &store.WebhookDelivery{EventID: "ev1", EndpointID: "we1", Attempt: 1, StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	if err := w.DeleteEndpoint(ctx, "we1"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.GetEndpoint(ctx, "we1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetEndpoint after DeleteEndpoint: %v, want ErrNotFound", err)
	}
	if err := w.DeleteEndpoint(ctx, "we1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second DeleteEndpoint: %v, want ErrNotFound", err)
	}
	if err := w.DeleteEndpoint(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteEndpoint(nope): %v, want ErrNotFound", err)
	}
	if ids := endpointIDs(t, w, "acme"); !slices.Equal(ids, []string{"we2"}) {
		t.Fatalf("ListEndpoints after DeleteEndpoint = %q, want [we2]", ids)
	}
	// The deleted endpoint's deliveries stay in the log.
	ds, err := w.ListDeliveries(ctx, store.DeliveryQuery{EndpointID: "we1"})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries of the deleted endpoint = %v, %v; want 1", ds, err)
	}
}

func eventDiffOf(want, got *store.WebhookEvent) []string {
	var d []string
	if want.ID != got.ID || want.Type != got.Type || want.Tenant != got.Tenant {
		d = append(d, fmt.Sprintf("got %q %q %q, want %q %q %q", got.ID, got.Type, got.Tenant, want.ID, want.Type, want.Tenant))
	}
	if !bytes.Equal(want.Body, got.Body) || (want.Body == nil) != (got.Body == nil) {
		d = append(d, fmt.Sprintf("Body: got %q, want %q", got.Body, want.Body))
	}
	if !sameTime(want.CreatedAt, got.CreatedAt) {
		d = append(d, fmt.Sprintf("CreatedAt: got %v, want %v", got.CreatedAt, want.CreatedAt))
	}
	return d
}

func testWebhookEvents(t *testing.T, s store.Store) {
	w := webhooksOf(t, s)
	want := &store.WebhookEvent{
		ID:        "msg_1",
		Type:      "upload.ready",
		Tenant:    "acme ünïcode",
		Body:      json.RawMessage(`{"type": "upload.ready",  "data": {"id": "u1"}}`),
		CreatedAt: time.Date(2025, 4, 5, 6, 7, 8, 901000000, time.FixedZone("X", -5*3600)),
	}
	if err := w.PutEvent(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := w.GetEvent(ctx, "msg_1")
	if err != nil {
		t.Fatal(err)
	}
	if d := eventDiffOf(want, got); len(d) > 0 {
		t.Fatalf("GetEvent differs: %q", d)
	}
	// Putting the ID again keeps the first event.
	again := &store.WebhookEvent{ID: "msg_1", Type: "upload.failed", Tenant: "other", Body: json.RawMessage(`{"second":true}`)}
	if err := w.PutEvent(ctx, again); err != nil {
		t.Fatalf("PutEvent of a stored ID: %v, want no error", err)
	}
	if got, err = w.GetEvent(ctx, "msg_1"); err != nil {
		t.Fatal(err)
	}
	if d := eventDiffOf(want, got); len(d) > 0 {
		t.Fatalf("event after a second PutEvent differs: %q", d)
	}
	// A returned event is the caller's to change.
	got.Body[0] = 'X'
	if got, err = w.GetEvent(ctx, "msg_1"); err != nil || !bytes.Equal(got.Body, want.Body) {
		t.Fatalf("event after its returned copy changed: %q, %v", got.Body, err)
	}

	if _, err := w.GetEvent(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetEvent(nope): %v, want ErrNotFound", err)
	}
	if err := w.PutEvent(ctx, &store.WebhookEvent{Type: "upload.ready", Body: json.RawMessage(`{}`)}); err == nil {
		t.Fatal("PutEvent with an empty ID succeeded")
	}
	if err := w.PutEvent(ctx, &store.WebhookEvent{ID: "msg_bad", Body: json.RawMessage(`{nope`)}); err == nil {
		t.Fatal("PutEvent with a body that is not JSON succeeded")
	}

	// The store fills in CreatedAt.
	before := time.Now()
	if err := w.PutEvent(ctx, &store.WebhookEvent{ID: "msg_2", Type: "upload.ready", Body: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if got, err = w.GetEvent(ctx, "msg_2"); err != nil || !inWindow(got.CreatedAt, before, after) {
		t.Fatalf("GetEvent(msg_2) = %+v, %v; want CreatedAt between %v and %v", got, err, before, after)
	}
}

func testWebhookDeliveries(t *testing.T, s store.Store) {
	w := webhooksOf(t, s)
	full := &store.WebhookDelivery{
		ID:         "d1",
		EventID:    "msg_1",
		EndpointID: "config:crm",
		Attempt:    3,
		StatusCode: 503,
		Latency:    1234567891 * time.Nanosecond,
		Error:      "503 Service Unavailable ünïcode",
		Dead:       true,
		At:         time.Date(2025, 4, 5, 6, 7, 8, 901000000, time.UTC),
	}
	if err := w.AppendDelivery(ctx, full); err != nil {
		t.Fatal(err)
	}
	if full.ID != "d1" {
		t.Fatalf("AppendDelivery changed a given ID to %q", full.ID)
	}
	if err := w.AppendDelivery(ctx, &store.WebhookDelivery{ID: "d1", EventID: "msg_1", Attempt: 1}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("AppendDelivery of a taken ID: %v, want ErrExists", err)
	}
	if err := w.AppendDelivery(ctx, &store.WebhookDelivery{EndpointID: "we1", Attempt: 1}); err == nil {
		t.Fatal("AppendDelivery without an event ID succeeded")
	}
	// The store sets the ID, and At, in the caller's delivery.
	var made []string
	before := time.Now()
	for i := range 2 {
		d := &store.WebhookDelivery{EventID: "msg_2", EndpointID: "we1", Attempt: i + 1, StatusCode: 200}
		if err := w.AppendDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		if d.ID == "" || slices.Contains(made, d.ID) || d.ID == "d1" {
			t.Fatalf("AppendDelivery set ID %q; want one of its own (have %q)", d.ID, made)
		}
		made = append(made, d.ID)
	}
	after := time.Now()

	got, err := w.ListDeliveries(ctx, store.DeliveryQuery{EventID: "msg_1"})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListDeliveries(msg_1) = %v, %v; want 1", got, err)
	}
	if g := got[0]; g.ID != full.ID || g.EventID != full.EventID || g.EndpointID != full.EndpointID || g.Attempt != full.Attempt ||
		g.StatusCode != full.StatusCode || g.Latency != full.Latency || g.Error != full.Error || g.Dead != full.Dead || !sameTime(full.At, g.At) {
		t.Fatalf("delivery = %+v, want %+v", g, full)
	}
	got, err = w.ListDeliveries(ctx, store.DeliveryQuery{EventID: "msg_2"})
	if err != nil || len(got) != 2 {
		t.Fatalf("ListDeliveries(msg_2) = %v, %v; want 2", got, err)
	}
	for _, d := range got {
		if !slices.Contains(made, d.ID) || !inWindow(d.At, before, after) || d.Dead || d.Error != "" || d.Latency != 0 {
			t.Errorf("delivery %+v: want one of %q, made between %v and %v", d, made, before, after)
		}
	}
}

func deliveryIDs(t *testing.T, w store.Webhooks, q store.DeliveryQuery) []string {
	t.Helper()
	ds, err := w.ListDeliveries(ctx, q)
	if err != nil {
		t.Fatalf("ListDeliveries(%+v): %v", q, err)
	}
	ids := []string{}
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}

func testWebhookDeliveriesList(t *testing.T, s store.Store) {
	w := webhooksOf(t, s)
	if ids := deliveryIDs(t, w, store.DeliveryQuery{}); len(ids) != 0 {
		t.Fatalf("ListDeliveries of an empty log = %q", ids)
	}
	for _, e := range []*store.WebhookEvent{
		{ID: "ev-a", Type: "upload.ready", Tenant: "acme", Body: json.RawMessage(`{}`)},
		{ID: "ev-b", Type: "upload.failed", Tenant: "acme", Body: json.RawMessage(`{}`)},
		{ID: "ev-g", Type: "upload.ready", Tenant: "globex", Body: json.RawMessage(`{}`)},
	} {
		if err := w.PutEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	// Appended out of order, so that newest first is not the reverse of
	// the order of appending; d5 and d6 share a time, and go by ID.
	for _, d := range []struct {
		id, event, endpoint string
		minute              int
		dead                bool
	}{
		{"d3", "ev-a", "we2", 3, false},
		{"d1", "ev-a", "we1", 1, false},
		{"d2", "ev-a", "we1", 2, true},
		{"d6", "ev-g", "we3", 5, true},
		{"d4", "ev-b", "we1", 4, false},
		{"d5", "ev-b", "we2", 5, false},
		{"d7", "ev-gone", "config:ops", 6, true}, // an event never stored
	} {
		err := w.AppendDelivery(ctx, &store.WebhookDelivery{
			ID: d.id, EventID: d.event, EndpointID: d.endpoint, Attempt: 1, Dead: d.dead,
			At: base.Add(time.Duration(d.minute) * time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		q    store.DeliveryQuery
		want []string
	}{
		{"all", store.DeliveryQuery{}, []string{"d7", "d6", "d5", "d4", "d3", "d2", "d1"}},
		{"event", store.DeliveryQuery{EventID: "ev-a"}, []string{"d3", "d2", "d1"}},
		{"endpoint", store.DeliveryQuery{EndpointID: "we1"}, []string{"d4", "d2", "d1"}},
		{"tenant", store.DeliveryQuery{Tenant: "acme"}, []string{"d5", "d4", "d3", "d2", "d1"}},
		{"other tenant", store.DeliveryQuery{Tenant: "globex"}, []string{"d6"}},
		{"unknown tenant", store.DeliveryQuery{Tenant: "none"}, []string{}},
		{"dead", store.DeliveryQuery{DeadOnly: true}, []string{"d7", "d6", "d2"}},
		{"dead of a tenant", store.DeliveryQuery{DeadOnly: true, Tenant: "acme"}, []string{"d2"}},
		{"before", store.DeliveryQuery{Before: base.Add(4 * time.Minute)}, []string{"d3", "d2", "d1"}},
		{"before, between", store.DeliveryQuery{Before: base.Add(4*time.Minute + 500*time.Microsecond)}, []string{"d4", "d3", "d2", "d1"}},
		{"event and endpoint", store.DeliveryQuery{EventID: "ev-b", EndpointID: "we2"}, []string{"d5"}},
		{"endpoint and tenant", store.DeliveryQuery{EndpointID: "we2", Tenant: "acme", Before: base.Add(5 * time.Minute)}, []string{"d3"}},
		{"limit", store.DeliveryQuery{Limit: 2}, []string{"d7", "d6"}},
		{"limit 1", store.DeliveryQuery{Tenant: "acme", Limit: 1}, []string{"d5"}},
		{"max limit", store.DeliveryQuery{Limit: store.MaxLimit}, []string{"d7", "d6", "d5", "d4", "d3", "d2", "d1"}},
	} {
		if got := deliveryIDs(t, w, c.q); !slices.Equal(got, c.want) {
			t.Errorf("%s: ListDeliveries = %q, want %q", c.name, got, c.want)
		}
	}
	// A limit out of range is refused, not clamped.
	for _, limit := range []int{-1, store.MaxLimit + 1} {
		if ds, err := w.ListDeliveries(ctx, store.DeliveryQuery{Limit: limit}); err == nil {
			t.Errorf("ListDeliveries with limit %d = %d deliveries, want an error", limit, len(ds))
		}
	}
}

// testWebhookDeliveriesDefaultLimit fills the log past DefaultLimit: a
// query without a limit returns the newest DefaultLimit attempts.
func testWebhookDeliveriesDefaultLimit(t *testing.T, s store.Store) {
	w := webhooksOf(t, s)
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	const n = store.DefaultLimit + 5
	for i := range n {
		err := w.AppendDelivery(ctx, &store.WebhookDelivery{
			ID: fmt.Sprintf("d%03d", i), EventID: "ev", EndpointID: "we1", Attempt: 1,
			At: base.Add(time.Duration(i) * time.Second),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := deliveryIDs(t, w, store.DeliveryQuery{})
	if len(got) != store.DefaultLimit || got[0] != fmt.Sprintf("d%03d", n-1) || got[len(got)-1] != fmt.Sprintf("d%03d", n-store.DefaultLimit) {
		t.Fatalf("ListDeliveries without a limit = %d deliveries, %q … %q; want the newest %d", len(got), got[0], got[len(got)-1], store.DefaultLimit)
	}
	if got := deliveryIDs(t, w, store.DeliveryQuery{Limit: store.MaxLimit}); len(got) != n {
		t.Fatalf("ListDeliveries with limit %d = %d deliveries, want %d", store.MaxLimit, len(got), n)
	}
}
