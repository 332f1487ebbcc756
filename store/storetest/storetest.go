// Package storetest is the conformance suite that every store.Store
// implementation runs, so that the carcosa package can rely on one behaviour
// whatever the backend.
//
// Beyond the store.Store documentation, the suite pins down choices the
// interface leaves open:
//   - Create rejects an empty ID and an invalid State.
//   - Non-empty storage Keys are unique: Create, and Update changing Key,
//     fail with an error matching store.ErrExists when another record holds
//     the key. Records with an empty Key are never found by GetByKey.
//   - Update silently keeps the original ID and CreatedAt when fn changes
//     them.
//   - A nil json.RawMessage reads back as nil.
//   - Times are compared to the millisecond, so stores may keep less
//     precision than time.Time.
//   - Stats orders buckets, then routes, by their bytes, as Go compares
//     strings, whatever the backend's collation; a store with no ready
//     record gives no Stats and no error.
//   - Every Store implements store.Quotas, store.Keys and store.AuditLog;
//     the suite fails a Store that does not.
//   - Reserve refuses an empty ID, a negative size, an invalid scope and a
//     scope named twice; Settle refuses a negative size and a size above
//     the reservation (store.ErrSettleGrows); SetQuotaLimits
//     refuses an invalid scope and negative limits.
//   - CreateKey rejects an empty ID; RevokeKey and TouchKey a zero time.
//   - AppendAudit stores a copy, leaving the caller's event as it was; it
//     rejects a Detail that is not JSON, and an ID already in the log with
//     an error matching store.ErrExists.
//   - The store.Webhooks tests run for a Store that implements it, and are
//     skipped for one that does not. CreateEndpoint rejects an empty ID;
//     PutEvent an empty ID and a Body that is not JSON; AppendDelivery an
//     empty EventID, and an ID already logged with an error matching
//     store.ErrExists. CreateEndpoint and PutEvent fill in the times their
//     argument lacks, on a copy; they keep the times given. An endpoint's
//     empty Secrets and Types may read back nil. ListEndpoints orders by
//     CreatedAt, then ID; ListDeliveries by At, then ID, descending, and
//     its Tenant filter matches no delivery of an event never stored.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/store"
)

// Run runs the conformance suite. newStore must return a fresh, empty store
// each time it is called; Run closes it when the subtest ends, so newStore
// need not (Close may therefore be called twice and must tolerate that).
// Subtests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	open := func(t *testing.T) store.Store {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateGetRoundTrip", testCreateGetRoundTrip},
		{"CreateSetsTimes", testCreateSetsTimes},
		{"CreateKeepsCreatedAt", testCreateKeepsCreatedAt},
		{"CreateNilRaw", testCreateNilRaw},
		{"CreateInvalid", testCreateInvalid},
		{"CreateDuplicateID", testCreateDuplicateID},
		{"CreateDuplicateKey", testCreateDuplicateKey},
		{"CreateConcurrentSameID", testCreateConcurrentSameID},
		{"NotFound", testNotFound},
		{"GetByKey", testGetByKey},
		{"GetByKeyEmpty", testGetByKeyEmpty},
		{"Update", testUpdate},
		{"UpdateKeepsIDAndCreatedAt", testUpdateKeepsIDAndCreatedAt},
		{"UpdateFnError", testUpdateFnError},
		{"UpdateKey", testUpdateKey},
		{"UpdateKeyConflict", testUpdateKeyConflict},
		{"Transitions", testTransitions},
		{"Copies", testCopies},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"ConcurrentTransitions", testConcurrentTransitions},
		{"ConcurrentCompareAndSet", testConcurrentCompareAndSet},
		{"Delete", testDelete},
		{"List", testList},
		{"ListInvalid", testListInvalid},
		{"ListEveryState", testListEveryState},
		{"ListFilters", testListFilters},
		{"Bucket", testBucket},
		{"Scan", testScan},
		{"Derivatives", testDerivatives},
		{"StatsEmpty", testStatsEmpty},
		{"Stats", testStats},

		{"QuotaReserveConcurrent", testQuotaReserveConcurrent},
		{"QuotaAllOrNothing", testQuotaAllOrNothing},
		{"QuotaConcurrentReserveRelease", testQuotaConcurrentReserveRelease},
		{"QuotaSettle", testQuotaSettle},
		{"QuotaReserveIdempotent", testQuotaReserveIdempotent},
		{"QuotaStoredLimits", testQuotaStoredLimits},
		{"QuotaScopesApart", testQuotaScopesApart},
		{"QuotaInvalid", testQuotaInvalid},
		{"Keys", testKeys},
		{"KeysRevokeTouch", testKeysRevokeTouch},
		{"KeysList", testKeysList},
		{"Audit", testAudit},
		{"AuditList", testAuditList},

		{"WebhookEndpoints", testWebhookEndpoints},
		{"WebhookEndpointsList", testWebhookEndpointsList},
		{"WebhookEndpointUpdate", testWebhookEndpointUpdate},
		{"WebhookEndpointConcurrentUpdate", testWebhookEndpointConcurrentUpdate},
		{"WebhookEndpointDelete", testWebhookEndpointDelete},
		{"WebhookEvents", testWebhookEvents},
		{"WebhookDeliveries", testWebhookDeliveries},
		{"WebhookDeliveriesList", testWebhookDeliveriesList},
		{"WebhookDeliveriesDefaultLimit", testWebhookDeliveriesDefaultLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// Sample returns a record with every field set, in state Uploading. The
// RawMessage fields hold whitespace so that stores that re-encode JSON
// instead of keeping the bytes are caught.
func Sample(id string) *store.Upload {
	return &store.Upload{
		ID:           id,
		Route:        "avatar",
		Owner:        "user-42",
		Tenant:       "acme ünïcode",
		Via:          "tus",
		Name:         "cat picture.png",
		ClaimedType:  "image/png",
		Type:         "image/png",
		Size:         123456,
		SHA256:       strings.Repeat("0f", 32),
		Key:          "uploads/" + id,
		Bucket:       "archive",
		Scan:         store.ScanInfected,
		Signature:    "Eicar-Test-Signature ünïcode",
		Derivatives:  map[string]string{"thumb": "uploads/" + id + "/thumb.jpg", "préview": "uploads/" + id + "/preview.png"},
		Duration:     93*time.Second + 250*time.Millisecond,
		State:        store.Uploading,
		ErrorCode:    "code",
		ErrorMessage: "message ünïcode",
		Input:        json.RawMessage(`{"album": "summer",  "n": [1, 2]}`),
		Metadata:     json.RawMessage(` {"user":"user-42"}`),
		Result:       json.RawMessage(`"done"`),
		Partial:      true,
		Trace:        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		CreatedAt:    time.Date(2024, 3, 1, 12, 30, 45, 123456789, time.FixedZone("X", 5*3600)),
		UpdatedAt:    time.Date(2024, 3, 2, 8, 0, 0, 987000000, time.UTC),
	}
}

// Diff lists the fields in which got differs from want, comparing times to
// the millisecond. A nil RawMessage in want must be nil in got.
func Diff(want, got *store.Upload) []string {
	var d []string
	str := func(name, w, g string) {
		if w != g {
			d = append(d, fmt.Sprintf("%s: got %q, want %q", name, g, w))
		}
	}
	raw := func(name string, w, g json.RawMessage) {
		if !bytes.Equal(w, g) || w == nil && g != nil {
			d = append(d, fmt.Sprintf("%s: got %q (nil %t), want %q (nil %t)", name, g, g == nil, w, w == nil))
		}
	}
	tm := func(name string, w, g time.Time) {
		if !w.Truncate(time.Millisecond).Equal(g.Truncate(time.Millisecond)) {
			d = append(d, fmt.Sprintf("%s: got %v, want %v", name, g, w))
		}
	}
	str("ID", want.ID, got.ID)
	str("Route", want.Route, got.Route)
	str("Owner", want.Owner, got.Owner)
	str("Tenant", want.Tenant, got.Tenant)
	str("Via", want.Via, got.Via)
	str("Name", want.Name, got.Name)
	str("ClaimedType", want.ClaimedType, got.ClaimedType)
	str("Type", want.Type, got.Type)
	if want.Size != got.Size {
		d = append(d, fmt.Sprintf("Size: got %d, want %d", got.Size, want.Size))
	}
	str("SHA256", want.SHA256, got.SHA256)
	str("Key", want.Key, got.Key)
	str("Bucket", want.Bucket, got.Bucket)
	str("Scan", string(want.Scan), string(got.Scan))
	str("Signature", want.Signature, got.Signature)
	if want.Duration != got.Duration {
		d = append(d, fmt.Sprintf("Duration: got %v, want %v", got.Duration, want.Duration))
	}
	if !maps.Equal(want.Derivatives, got.Derivatives) || (want.Derivatives == nil) != (got.Derivatives == nil) {
		d = append(d, fmt.Sprintf("Derivatives: got %v, want %v", got.Derivatives, want.Derivatives))
	}
	str("State", string(want.State), string(got.State))
	str("ErrorCode", want.ErrorCode, got.ErrorCode)
	str("ErrorMessage", want.ErrorMessage, got.ErrorMessage)
	raw("Input", want.Input, got.Input)
	raw("Metadata", want.Metadata, got.Metadata)
	raw("Result", want.Result, got.Result)
	if want.Partial != got.Partial {
		d = append(d, fmt.Sprintf("Partial: got %t, want %t", got.Partial, want.Partial))
	}
	str("Trace", want.Trace, got.Trace)
	tm("CreatedAt", want.CreatedAt, got.CreatedAt)
	tm("UpdatedAt", want.UpdatedAt, got.UpdatedAt)
	return d
}

// RequireEqual fails t unless got matches want as Diff defines it.
func RequireEqual(t testing.TB, what string, want, got *store.Upload) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil record", what)
	}
	if d := Diff(want, got); len(d) > 0 {
		t.Fatalf("%s differs:\n  %s", what, strings.Join(d, "\n  "))
	}
}

var ctx = context.Background()

func mustCreate(t *testing.T, s store.Store, u *store.Upload) {
	t.Helper()
	if err := s.Create(ctx, u); err != nil {
		t.Fatalf("Create(%s): %v", u.ID, err)
	}
}

func mustGet(t *testing.T, s store.Store, id string) *store.Upload {
	t.Helper()
	u, err := s.Get(ctx, id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return u
}

// requireUnchanged checks that the stored record still equals want,
// UpdatedAt included: a failed Update must not have written anything.
func requireUnchanged(t *testing.T, s store.Store, want *store.Upload) {
	t.Helper()
	RequireEqual(t, "stored record", want, mustGet(t, s, want.ID))
}

// inWindow reports whether a store-set time lies between two readings of
// the clock, allowing for stores that keep only milliseconds.
func inWindow(got, before, after time.Time) bool {
	return !got.Before(before.Truncate(time.Millisecond)) && !got.After(after.Add(time.Millisecond))
}

func testCreateGetRoundTrip(t *testing.T, s store.Store) {
	want := Sample("u1")
	mustCreate(t, s, want)
	RequireEqual(t, "Get", want, mustGet(t, s, "u1"))

	// Size -1 marks a deferred length and must survive as is.
	v := Sample("u2")
	v.Size = -1
	v.Partial = false
	v.State = store.Processing
	mustCreate(t, s, v)
	RequireEqual(t, "Get", v, mustGet(t, s, "u2"))
}

func testCreateSetsTimes(t *testing.T, s store.Store) {
	u := Sample("u1")
	u.CreatedAt, u.UpdatedAt = time.Time{}, time.Time{}
	before := time.Now()
	mustCreate(t, s, u)
	after := time.Now()
	got := mustGet(t, s, "u1")
	if !inWindow(got.CreatedAt, before, after) {
		t.Errorf("CreatedAt = %v, want between %v and %v", got.CreatedAt, before, after)
	}
	if !inWindow(got.UpdatedAt, before, after) {
		t.Errorf("UpdatedAt = %v, want between %v and %v", got.UpdatedAt, before, after)
	}
	if got.UpdatedAt.Before(got.CreatedAt) {
		t.Errorf("UpdatedAt %v before CreatedAt %v", got.UpdatedAt, got.CreatedAt)
	}
	want := u.Clone()
	want.CreatedAt, want.UpdatedAt = got.CreatedAt, got.UpdatedAt
	RequireEqual(t, "Get", want, got)
}

func testCreateKeepsCreatedAt(t *testing.T, s store.Store) {
	u := Sample("u1")
	u.UpdatedAt = time.Time{}
	before := time.Now()
	mustCreate(t, s, u)
	after := time.Now()
	got := mustGet(t, s, "u1")
	if !got.CreatedAt.Truncate(time.Millisecond).Equal(u.CreatedAt.Truncate(time.Millisecond)) {
		t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, u.CreatedAt)
	}
	if !inWindow(got.UpdatedAt, before, after) {
		t.Errorf("UpdatedAt = %v, want between %v and %v", got.UpdatedAt, before, after)
	}
}

func testCreateNilRaw(t *testing.T, s store.Store) {
	u := Sample("u1")
	u.Input, u.Metadata, u.Result = nil, nil, nil
	mustCreate(t, s, u)
	got := mustGet(t, s, "u1")
	RequireEqual(t, "Get", u, got)
	if got.Input != nil || got.Metadata != nil || got.Result != nil {
		t.Fatalf("nil RawMessage fields read back as %q, %q, %q", got.Input, got.Metadata, got.Result)
	}
}

func testCreateInvalid(t *testing.T, s store.Store) {
	u := Sample("")
	if err := s.Create(ctx, u); err == nil {
		t.Error("Create with empty ID succeeded")
	}
	for _, st := range []store.State{"", "bogus"} {
		u := Sample("u1")
		u.State = st
		if err := s.Create(ctx, u); err == nil {
			t.Errorf("Create with state %q succeeded", st)
		}
		if _, err := s.Get(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after failed Create, Get error = %v, want ErrNotFound", err)
		}
	}
}

func testCreateDuplicateID(t *testing.T, s store.Store) {
	orig := Sample("u1")
	mustCreate(t, s, orig)
	dup := Sample("u1")
	dup.Key = "other"
	dup.Name = "other.png"
	if err := s.Create(ctx, dup); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate Create error = %v, want ErrExists", err)
	}
	requireUnchanged(t, s, orig)
	if _, err := s.GetByKey(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetByKey of rejected record's key: error = %v, want ErrNotFound", err)
	}
}

func testCreateDuplicateKey(t *testing.T, s store.Store) {
	orig := Sample("u1")
	mustCreate(t, s, orig)
	dup := Sample("u2")
	dup.Key = orig.Key
	if err := s.Create(ctx, dup); !errors.Is(err, store.ErrExists) {
		t.Fatalf("Create with a taken key: error = %v, want ErrExists", err)
	}
	if _, err := s.Get(ctx, "u2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of rejected record: error = %v, want ErrNotFound", err)
	}
	requireUnchanged(t, s, orig)

	// The empty key is "no key yet" and may repeat.
	for _, id := range []string{"e1", "e2"} {
		u := Sample(id)
		u.Key = ""
		mustCreate(t, s, u)
	}
}

func testCreateConcurrentSameID(t *testing.T, s store.Store) {
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			u := Sample("u1")
			u.Name = fmt.Sprintf("n%d", i)
			errs[i] = s.Create(ctx, u)
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatalf("Create succeeded twice (%d and %d)", won, i)
			}
			won = i
		case !errors.Is(err, store.ErrExists):
			t.Fatalf("Create %d: error = %v, want ErrExists", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no Create succeeded")
	}
	if got := mustGet(t, s, "u1"); got.Name != fmt.Sprintf("n%d", won) {
		t.Fatalf("stored Name = %q, want the winner's n%d", got.Name, won)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	mustCreate(t, s, Sample("u1"))
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get: error = %v, want ErrNotFound", err)
	}
	if _, err := s.GetByKey(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetByKey: error = %v, want ErrNotFound", err)
	}
	called := false
	if _, err := s.Update(ctx, "nope", func(*store.Upload) error { called = true; return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Update: error = %v, want ErrNotFound", err)
	}
	if called {
		t.Error("Update called fn for a missing record")
	}
	if err := s.Delete(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Delete: error = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Update or Delete of a missing record created it: error = %v", err)
	}
}

func testGetByKey(t *testing.T, s store.Store) {
	a, b := Sample("a"), Sample("b")
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	for _, want := range []*store.Upload{a, b} {
		got, err := s.GetByKey(ctx, want.Key)
		if err != nil {
			t.Fatalf("GetByKey(%s): %v", want.Key, err)
		}
		RequireEqual(t, "GetByKey", want, got)
	}
}

func testGetByKeyEmpty(t *testing.T, s store.Store) {
	u := Sample("u1")
	u.Key = ""
	mustCreate(t, s, u)
	if got, err := s.GetByKey(ctx, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetByKey(\"\") = %v, %v; want ErrNotFound", got, err)
	}
}

func testUpdate(t *testing.T, s store.Store) {
	orig := Sample("u1")
	orig.UpdatedAt = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	orig.Result = nil
	mustCreate(t, s, orig)

	want := orig.Clone()
	want.State = store.Processing
	want.Size = -1
	want.Type = "image/jpeg"
	want.SHA256 = strings.Repeat("ab", 32)
	want.Result = json.RawMessage(`{"url": "x"}`)
	want.Metadata = nil
	want.Partial = false
	want.ErrorCode, want.ErrorMessage = "", ""

	var seen *store.Upload
	before := time.Now()
	got, err := s.Update(ctx, "u1", func(u *store.Upload) error {
		seen = u.Clone()
		u.State = want.State
		u.Size = want.Size
		u.Type = want.Type
		u.SHA256 = want.SHA256
		u.Result = want.Result
		u.Metadata = nil
		u.Partial = false
		u.ErrorCode, u.ErrorMessage = "", ""
		return nil
	})
	after := time.Now()
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	RequireEqual(t, "record passed to fn", orig, seen)
	if !inWindow(got.UpdatedAt, before, after) {
		t.Errorf("UpdatedAt = %v, want between %v and %v", got.UpdatedAt, before, after)
	}
	want.UpdatedAt = got.UpdatedAt
	RequireEqual(t, "Update result", want, got)
	RequireEqual(t, "Get after Update", want, mustGet(t, s, "u1"))
}

func testUpdateKeepsIDAndCreatedAt(t *testing.T, s store.Store) {
	orig := Sample("u1")
	mustCreate(t, s, orig)
	got, err := s.Update(ctx, "u1", func(u *store.Upload) error {
		u.ID = "u2"
		u.CreatedAt = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
		u.Name = "renamed"
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := orig.Clone()
	want.Name = "renamed"
	want.UpdatedAt = got.UpdatedAt
	RequireEqual(t, "Update result", want, got)
	RequireEqual(t, "Get after Update", want, mustGet(t, s, "u1"))
	if _, err := s.Get(ctx, "u2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of the ID fn set: error = %v, want ErrNotFound", err)
	}
}

func testUpdateFnError(t *testing.T, s store.Store) {
	orig := Sample("u1")
	mustCreate(t, s, orig)
	errFn := errors.New("fn refused")
	got, err := s.Update(ctx, "u1", func(u *store.Upload) error {
		u.Name = "changed"
		u.State = store.Processing
		u.Key = "changed"
		return fmt.Errorf("wrapped: %w", errFn)
	})
	if !errors.Is(err, errFn) {
		t.Fatalf("Update error = %v, want fn's error", err)
	}
	if got != nil {
		t.Errorf("Update returned a record with an error: %+v", got)
	}
	requireUnchanged(t, s, orig)
	if _, err := s.GetByKey(ctx, "changed"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetByKey of the key fn set: error = %v, want ErrNotFound", err)
	}
}

func testUpdateKey(t *testing.T, s store.Store) {
	orig := Sample("u1")
	mustCreate(t, s, orig)
	if _, err := s.Update(ctx, "u1", func(u *store.Upload) error { u.Key = "new"; return nil }); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if _, err := s.GetByKey(ctx, orig.Key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetByKey(old key): error = %v, want ErrNotFound", err)
	}
	if got, err := s.GetByKey(ctx, "new"); err != nil || got.ID != "u1" {
		t.Fatalf("GetByKey(new key) = %v, %v; want u1", got, err)
	}
	// The old key is free again.
	v := Sample("u2")
	v.Key = orig.Key
	mustCreate(t, s, v)
}

func testUpdateKeyConflict(t *testing.T, s store.Store) {
	a, b := Sample("a"), Sample("b")
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	_, err := s.Update(ctx, "b", func(u *store.Upload) error {
		u.Key = a.Key
		u.Name = "changed"
		return nil
	})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("Update to a taken key: error = %v, want ErrExists", err)
	}
	requireUnchanged(t, s, a)
	requireUnchanged(t, s, b)
}

func testTransitions(t *testing.T, s store.Store) {
	all := []store.State{store.Uploading, store.Processing, store.Ready, store.Rejected, store.Quarantined, store.Failed}
	type tc struct {
		from, to store.State
		ok       bool
	}
	cases := []tc{
		{store.Uploading, store.Processing, true},
		{store.Uploading, store.Rejected, true},
		{store.Uploading, store.Quarantined, true},
		{store.Uploading, store.Failed, true},
		{store.Processing, store.Ready, true},
		{store.Processing, store.Rejected, true},
		{store.Processing, store.Quarantined, true},
		{store.Processing, store.Failed, true},

		{store.Uploading, store.Ready, false},
		{store.Processing, store.Uploading, false},
		{store.Ready, store.Uploading, false},
		{store.Ready, store.Processing, false},
		{store.Ready, store.Failed, false},
		{store.Rejected, store.Ready, false},
		{store.Rejected, store.Processing, false},
		{store.Quarantined, store.Ready, false},
		{store.Quarantined, store.Failed, false},
		{store.Quarantined, store.Uploading, false},
		{store.Failed, store.Ready, false},
		{store.Failed, store.Uploading, false},
		{store.Failed, store.Rejected, false},

		// A retry of a failed upload, a release from quarantine.
		{store.Failed, store.Processing, true},
		{store.Quarantined, store.Processing, true},
	}
	for _, st := range all {
		// Staying put is allowed, even in terminal states.
		cases = append(cases, tc{st, st, true}, tc{st, "bogus", false}, tc{st, "", false})
	}
	for i, c := range cases {
		orig := Sample(fmt.Sprintf("t%d", i))
		orig.State = c.from
		mustCreate(t, s, orig)
		got, err := s.Update(ctx, orig.ID, func(u *store.Upload) error {
			u.State = c.to
			u.Name = "changed"
			return nil
		})
		if c.ok {
			if err != nil {
				t.Errorf("%s → %s: %v", c.from, c.to, err)
				continue
			}
			if got.State != c.to || got.Name != "changed" {
				t.Errorf("%s → %s: returned state %s, name %q", c.from, c.to, got.State, got.Name)
			}
			if st := mustGet(t, s, orig.ID); st.State != c.to || st.Name != "changed" {
				t.Errorf("%s → %s: stored state %s, name %q", c.from, c.to, st.State, st.Name)
			}
			continue
		}
		if !errors.Is(err, store.ErrTransition) {
			t.Errorf("%s → %q: error = %v, want ErrTransition", c.from, c.to, err)
		}
		if got != nil {
			t.Errorf("%s → %q: returned a record with an error", c.from, c.to)
		}
		requireUnchanged(t, s, orig)
	}

	// A legal path, step by step.
	u := Sample("path")
	mustCreate(t, s, u)
	for _, st := range []store.State{store.Uploading, store.Processing, store.Processing, store.Ready, store.Ready} {
		if _, err := s.Update(ctx, "path", func(u *store.Upload) error { u.State = st; return nil }); err != nil {
			t.Fatalf("→ %s: %v", st, err)
		}
	}
}

func testCopies(t *testing.T, s store.Store) {
	orig := Sample("u1")
	in := orig.Clone()
	mustCreate(t, s, in)
	// The caller's record and its bytes are the caller's to reuse.
	in.Name = "mutated"
	in.Input[0] = 'X'
	in.Metadata[1] = 'X'
	in.Result[0] = 'X'
	in.Derivatives["thumb"] = "mutated"
	requireUnchanged(t, s, orig)

	got := mustGet(t, s, "u1")
	got.Name = "mutated"
	got.State = store.Failed
	got.Input[0] = 'X'
	got.Metadata[1] = 'X'
	got.Result[0] = 'X'
	got.Derivatives["thumb"] = "mutated"
	requireUnchanged(t, s, orig)

	byKey, err := s.GetByKey(ctx, orig.Key)
	if err != nil {
		t.Fatalf("GetByKey: %v", err)
	}
	byKey.Name = "mutated"
	byKey.Input[0] = 'X'
	requireUnchanged(t, s, orig)

	var kept *store.Upload
	res, err := s.Update(ctx, "u1", func(u *store.Upload) error {
		kept = u
		u.Name = "updated"
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := orig.Clone()
	want.Name = "updated"
	want.UpdatedAt = res.UpdatedAt

	res.Name = "mutated"
	res.Input[0] = 'X'
	res.Metadata[1] = 'X'
	res.Result[0] = 'X'
	requireUnchanged(t, s, want)

	// fn's record is a copy too, even if fn holds on to it.
	kept.Name = "mutated"
	kept.Input[0] = 'X'
	kept.Result[0] = 'X'
	requireUnchanged(t, s, want)
}

// pause widens the window between an Update's read and its write, so that a
// store whose Update is not atomic loses updates reliably rather than rarely.
func pause() { time.Sleep(100 * time.Microsecond) }

func testConcurrentIncrements(t *testing.T, s store.Store) {
	u := Sample("u1")
	u.Size = 0
	mustCreate(t, s, u)
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := s.Update(ctx, "u1", func(u *store.Upload) error {
				pause()
				u.Size++
				return nil
			}); err != nil {
				t.Errorf("Update: %v", err)
			}
		})
	}
	// Readers running alongside must never fail.
	for range 5 {
		wg.Go(func() {
			for range 10 {
				if _, err := s.Get(ctx, "u1"); err != nil {
					t.Errorf("Get: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if got := mustGet(t, s, "u1"); got.Size != n {
		t.Fatalf("Size = %d after %d concurrent increments", got.Size, n)
	}
}

// testConcurrentTransitions races processing→ready against processing→failed.
// Whichever lands first makes the other illegal, so every Update aiming at
// the winning state succeeds (staying put is allowed) and every Update aiming
// at the other fails with ErrTransition.
func testConcurrentTransitions(t *testing.T, s store.Store) {
	u := Sample("u1")
	u.State = store.Processing
	mustCreate(t, s, u)
	const n = 40
	targets := [2]store.State{store.Ready, store.Failed}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Update(ctx, "u1", func(u *store.Upload) error {
				pause()
				u.State = targets[i%2]
				return nil
			})
		})
	}
	wg.Wait()
	final := mustGet(t, s, "u1").State
	if final != store.Ready && final != store.Failed {
		t.Fatalf("final state %s, want ready or failed", final)
	}
	for i, err := range errs {
		target := targets[i%2]
		switch {
		case target == final && err != nil:
			t.Errorf("Update %d to the winning state %s: %v", i, target, err)
		case target != final && !errors.Is(err, store.ErrTransition):
			t.Errorf("Update %d to the losing state %s: error = %v, want ErrTransition", i, target, err)
		}
	}
}

// testConcurrentCompareAndSet checks the pattern callers use to make exactly
// one worker act: fn refuses unless the record is still processing.
func testConcurrentCompareAndSet(t *testing.T, s store.Store) {
	u := Sample("u1")
	u.State = store.Processing
	mustCreate(t, s, u)
	errMoved := errors.New("already moved on")
	const n = 40
	targets := [2]store.State{store.Ready, store.Failed}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Update(ctx, "u1", func(u *store.Upload) error {
				if u.State != store.Processing {
					return errMoved
				}
				pause()
				u.State = targets[i%2]
				u.Name = fmt.Sprintf("w%d", i)
				return nil
			})
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatalf("two winners: %d and %d", won, i)
			}
			won = i
		case !errors.Is(err, errMoved):
			t.Errorf("Update %d: error = %v, want fn's error", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no winner")
	}
	got := mustGet(t, s, "u1")
	if got.State != targets[won%2] || got.Name != fmt.Sprintf("w%d", won) {
		t.Fatalf("stored state %s, name %q; want the winner's %s, w%d", got.State, got.Name, targets[won%2], won)
	}
}

func testDelete(t *testing.T, s store.Store) {
	u, other := Sample("u1"), Sample("u2")
	mustCreate(t, s, u)
	mustCreate(t, s, other)
	if err := s.Delete(ctx, "u1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after Delete: error = %v, want ErrNotFound", err)
	}
	if _, err := s.GetByKey(ctx, u.Key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetByKey after Delete: error = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Delete: error = %v, want ErrNotFound", err)
	}
	requireUnchanged(t, s, other)
	// Both the ID and the key can be used again.
	mustCreate(t, s, Sample("u1"))
	RequireEqual(t, "recreated", Sample("u1"), mustGet(t, s, "u1"))
}

func testList(t *testing.T, s store.Store) {
	base := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	// Seven processing records, created out of order, two sharing a time;
	// and records in other states that List must leave out.
	order := []string{"p3", "p0", "p6", "p2", "p5", "p1", "p4"}
	at := map[string]time.Time{
		"p0": base, "p1": base.Add(time.Second), "p2": base.Add(2 * time.Second),
		"p3": base.Add(2 * time.Second), "p4": base.Add(3 * time.Second),
		"p5": base.Add(4 * time.Second), "p6": base.Add(5 * time.Second),
	}
	for _, id := range order {
		u := Sample(id)
		u.Key = ""
		u.State = store.Processing
		u.UpdatedAt = at[id]
		mustCreate(t, s, u)
	}
	for i, st := range []store.State{store.Uploading, store.Ready, store.Failed} {
		u := Sample(fmt.Sprintf("other%d", i))
		u.State = st
		u.UpdatedAt = base
		mustCreate(t, s, u)
	}
	ids := func(us []*store.Upload) []string {
		out := []string{}
		for _, u := range us {
			out = append(out, u.ID)
		}
		return out
	}
	list := func(q store.Query) []*store.Upload {
		t.Helper()
		us, err := s.List(ctx, q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		return us
	}
	all := list(store.Query{State: store.Processing})
	if got, want := ids(all), []string{"p0", "p1", "p2", "p3", "p4", "p5", "p6"}; !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	want := Sample("p4")
	want.Key, want.State, want.UpdatedAt = "", store.Processing, at["p4"]
	RequireEqual(t, "listed record", want, all[4])

	if got, want := ids(list(store.Query{State: store.Processing, UpdatedBefore: at["p2"]})), []string{"p0", "p1"}; !slices.Equal(got, want) {
		t.Errorf("UpdatedBefore: List = %v, want %v", got, want)
	}
	// Pages of two, through the cursor, give every record once, in order.
	var paged []string
	q := store.Query{State: store.Processing, Limit: 2}
	for range 10 {
		page := list(q)
		if len(page) > 2 {
			t.Fatalf("page of %d records with Limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, ids(page)...)
		q.After = page[len(page)-1].Cursor()
	}
	if !slices.Equal(paged, ids(all)) {
		t.Errorf("paged List = %v, want %v", paged, ids(all))
	}
	// Newest first: the same records in reverse, and so through pages of
	// two.
	newest := ids(all)
	slices.Reverse(newest)
	if got := ids(list(store.Query{State: store.Processing, Newest: true})); !slices.Equal(got, newest) {
		t.Errorf("Newest: List = %v, want %v", got, newest)
	}
	paged = nil
	q = store.Query{State: store.Processing, Limit: 2, Newest: true}
	for range 10 {
		page := list(q)
		if len(page) == 0 {
			break
		}
		paged = append(paged, ids(page)...)
		q.After = page[len(page)-1].Cursor()
	}
	if !slices.Equal(paged, newest) {
		t.Errorf("Newest: paged List = %v, want %v", paged, newest)
	}
	if got := list(store.Query{State: store.Quarantined}); len(got) != 0 {
		t.Errorf("List(quarantined) = %v, want none", ids(got))
	}
	if got, want := ids(list(store.Query{State: store.Ready})), []string{"other1"}; !slices.Equal(got, want) {
		t.Errorf("List(ready) = %v, want %v", got, want)
	}
	// A record that changes state leaves one list for the other.
	if _, err := s.Update(ctx, "p0", func(u *store.Upload) error { u.State = store.Ready; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := ids(list(store.Query{State: store.Processing})); slices.Contains(got, "p0") {
		t.Errorf("p0 still listed as processing after it became ready: %v", got)
	}
	if got, want := ids(list(store.Query{State: store.Ready})), []string{"other1", "p0"}; !slices.Equal(got, want) {
		t.Errorf("List(ready) after update = %v, want %v", got, want)
	}
}

func testListInvalid(t *testing.T, s store.Store) {
	for _, q := range []store.Query{
		{State: "bogus"},
		{Limit: -1},
		{State: store.Ready, Limit: -1},
		{State: store.Ready, Limit: store.MaxLimit + 1},
	} {
		if _, err := s.List(ctx, q); err == nil {
			t.Errorf("List(%+v): no error", q)
		}
	}
}

// testScan checks that the scan's outcome and the signature are kept by
// Create and Update, empty ones included.
func testScan(t *testing.T, s store.Store) {
	none := Sample("none")
	none.Scan, none.Signature = store.ScanNone, ""
	mustCreate(t, s, none)
	RequireEqual(t, "Get", none, mustGet(t, s, none.ID))
	for _, res := range []store.ScanResult{store.ScanClean, store.ScanUnscanned, store.ScanInfected, store.ScanReleased} {
		sig := ""
		if res == store.ScanInfected || res == store.ScanReleased {
			sig = "Win.Test.EICAR_HDB-1"
		}
		got, err := s.Update(ctx, none.ID, func(u *store.Upload) error { u.Scan, u.Signature = res, sig; return nil })
		if err != nil {
			t.Fatalf("Update(%s): %v", res, err)
		}
		if got.Scan != res || got.Signature != sig {
			t.Errorf("Update returned %q %q, want %q %q", got.Scan, got.Signature, res, sig)
		}
		if stored := mustGet(t, s, none.ID); stored.Scan != res || stored.Signature != sig {
			t.Errorf("stored %q %q, want %q %q", stored.Scan, stored.Signature, res, sig)
		}
	}
}

// testDerivatives checks that Derivatives are kept, nil as nil, and
// replaced by Update.
func testDerivatives(t *testing.T, s store.Store) {
	none := Sample("none")
	none.Derivatives = nil
	mustCreate(t, s, none)
	RequireEqual(t, "Get", none, mustGet(t, s, none.ID))
	want := map[string]string{"thumb": "a/b/thumb.jpg"}
	got, err := s.Update(ctx, none.ID, func(u *store.Upload) error { u.Derivatives = want; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got.Derivatives, want) || !maps.Equal(mustGet(t, s, none.ID).Derivatives, want) {
		t.Fatalf("Derivatives after Update: %v", got.Derivatives)
	}
	if _, err := s.Update(ctx, none.ID, func(u *store.Upload) error { u.Derivatives = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if d := mustGet(t, s, none.ID).Derivatives; d != nil {
		t.Fatalf("Derivatives after clearing: %v", d)
	}
}

// testBucket checks that Bucket, the default bucket's "" included, is kept
// by every method that writes or returns records.
func testBucket(t *testing.T, s store.Store) {
	other, dflt := Sample("other"), Sample("default")
	other.Bucket = "photos-eu"
	dflt.Bucket = ""
	mustCreate(t, s, other)
	mustCreate(t, s, dflt)
	for _, want := range []*store.Upload{other, dflt} {
		RequireEqual(t, "Get", want, mustGet(t, s, want.ID))
		got, err := s.GetByKey(ctx, want.Key)
		if err != nil {
			t.Fatalf("GetByKey(%s): %v", want.Key, err)
		}
		RequireEqual(t, "GetByKey", want, got)
	}

	// Update moves records between buckets, and keeps the bucket of a
	// record fn leaves alone.
	moves := map[string]string{"other": "", "default": "cold"}
	for id, bucket := range moves {
		got, err := s.Update(ctx, id, func(u *store.Upload) error { u.Bucket = bucket; return nil })
		if err != nil {
			t.Fatalf("Update(%s): %v", id, err)
		}
		if got.Bucket != bucket {
			t.Errorf("Update(%s) returned Bucket %q, want %q", id, got.Bucket, bucket)
		}
		if got := mustGet(t, s, id); got.Bucket != bucket {
			t.Errorf("Get(%s) after Update: Bucket %q, want %q", id, got.Bucket, bucket)
		}
	}
	got, err := s.Update(ctx, "default", func(u *store.Upload) error { u.Name = "renamed"; return nil })
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if stored := mustGet(t, s, "default"); got.Bucket != "cold" || stored.Bucket != "cold" {
		t.Errorf("Update that left Bucket alone: returned %q, stored %q; want \"cold\"", got.Bucket, stored.Bucket)
	}

	us, err := s.List(ctx, store.Query{State: store.Uploading})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	listed := map[string]string{}
	for _, u := range us {
		listed[u.ID] = u.Bucket
	}
	if len(listed) != 2 || listed["other"] != "" || listed["default"] != "cold" {
		t.Errorf("List: buckets by ID = %q, want other: \"\", default: \"cold\"", listed)
	}
}

func testStatsEmpty(t *testing.T, s store.Store) {
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats of an empty store: %v", err)
	}
	if len(st) != 0 {
		t.Fatalf("Stats of an empty store = %+v, want none", st)
	}
	// Records that are not ready do not count either.
	u := Sample("u1")
	u.State = store.Processing
	mustCreate(t, s, u)
	if st, err := s.Stats(ctx); err != nil || len(st) != 0 {
		t.Fatalf("Stats with no ready record = %+v, %v; want none", st, err)
	}
}

func testStats(t *testing.T, s store.Store) {
	n := 0
	add := func(bucket, route string, state store.State, size int64) string {
		t.Helper()
		n++
		u := Sample(fmt.Sprintf("s%d", n))
		u.Bucket, u.Route, u.State, u.Size = bucket, route, state, size
		mustCreate(t, s, u)
		return u.ID
	}
	// Names that byte order and a linguistic collation sort differently:
	// upper case before lower case, '_' between them, and the default
	// bucket "" first.
	add("", "avatar", store.Ready, 10)
	add("", "avatar", store.Ready, 20)
	zeta := add("", "Zeta", store.Ready, 5)
	add("B", "_docs", store.Ready, 7)
	add("B", "_docs", store.Ready, 1<<40) // totals beyond 32 bits
	add("b", "avatar", store.Ready, 0)    // an empty file is still a file
	moved := add("b", "_docs", store.Ready, 3)
	// Records in every other state count nowhere, even in a group of
	// their own.
	pending := add("", "avatar", store.Processing, 100)
	add("", "avatar", store.Uploading, -1)
	add("", "avatar", store.Uploading, 1000)
	for _, st := range []store.State{store.Rejected, store.Quarantined, store.Failed} {
		add("", "avatar", st, 1000)
		add("x", "avatar", st, 1000)
	}

	check := func(when string, want []store.Stat) {
		t.Helper()
		got, err := s.Stats(ctx)
		if err != nil {
			t.Fatalf("%s: Stats: %v", when, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: Stats =\n  %+v\nwant\n  %+v", when, got, want)
		}
	}
	check("at first", []store.Stat{
		{Bucket: "", Route: "Zeta", Files: 1, Bytes: 5},
		{Bucket: "", Route: "avatar", Files: 2, Bytes: 30},
		{Bucket: "B", Route: "_docs", Files: 2, Bytes: 7 + 1<<40},
		{Bucket: "b", Route: "_docs", Files: 1, Bytes: 3},
		{Bucket: "b", Route: "avatar", Files: 1, Bytes: 0},
	})

	// A record entering ready counts; one deleted no longer does; one
	// moved to another bucket counts there.
	if _, err := s.Update(ctx, pending, func(u *store.Upload) error { u.State = store.Ready; return nil }); err != nil {
		t.Fatalf("Update to ready: %v", err)
	}
	if err := s.Delete(ctx, zeta); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Update(ctx, moved, func(u *store.Upload) error { u.Bucket = "B"; return nil }); err != nil {
		t.Fatalf("Update of Bucket: %v", err)
	}
	check("after changes", []store.Stat{
		{Bucket: "", Route: "avatar", Files: 3, Bytes: 130},
		{Bucket: "B", Route: "_docs", Files: 3, Bytes: 10 + 1<<40},
		{Bucket: "b", Route: "avatar", Files: 1, Bytes: 0},
	})
}

// listIDs lists what q selects and returns the records' IDs.
func listIDs(t *testing.T, s store.Store, q store.Query) []string {
	t.Helper()
	us, err := s.List(ctx, q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	out := []string{}
	for _, u := range us {
		out = append(out, u.ID)
	}
	return out
}

// testListEveryState checks that State "" lists records in every state, in
// List's order, and pages through them.
func testListEveryState(t *testing.T, s store.Store) {
	base := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	states := []store.State{store.Ready, store.Uploading, store.Failed, store.Processing, store.Quarantined, store.Rejected}
	var want []string
	for i, st := range states {
		u := Sample(fmt.Sprintf("r%d", i))
		u.State, u.UpdatedAt = st, base.Add(time.Duration(i)*time.Second)
		mustCreate(t, s, u)
		want = append(want, u.ID)
	}
	if got := listIDs(t, s, store.Query{}); !slices.Equal(got, want) {
		t.Fatalf("List({}) = %v, want %v", got, want)
	}
	var paged []string
	q := store.Query{Limit: 4}
	for range 5 {
		us, err := s.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(us) == 0 {
			break
		}
		for _, u := range us {
			paged = append(paged, u.ID)
		}
		q.After = us[len(us)-1].Cursor()
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("paged List({}) = %v, want %v", paged, want)
	}
	if got := listIDs(t, s, store.Query{UpdatedBefore: base.Add(2 * time.Second)}); !slices.Equal(got, want[:2]) {
		t.Fatalf("List(UpdatedBefore) = %v, want %v", got, want[:2])
	}
}

// testListFilters checks Query's Owner, Tenant and Route, alone, together
// and with State, and paging through a filtered list.
func testListFilters(t *testing.T, s store.Store) {
	base := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	type rec struct {
		id, tenant, owner, route string
		state                    store.State
	}
	// Listed in List's order: each one updated a second after the last.
	recs := []rec{
		{"a1", "acme", "ann", "avatar", store.Ready},
		{"a2", "acme", "bob", "avatar", store.Uploading},
		{"a3", "", "ann", "docs", store.Ready},
		{"a4", "acme", "ann", "docs", store.Processing},
		{"a5", "umbrella", "ann", "avatar", store.Ready},
		{"a6", "acme", "ann", "avatar", store.Failed},
		{"a7", "umbrella", "carol", "docs", store.Ready},
	}
	for i, r := range slices.Backward(recs) {
		u := Sample(r.id)
		u.Tenant, u.Owner, u.Route, u.State = r.tenant, r.owner, r.route, r.state
		u.UpdatedAt = base.Add(time.Duration(i) * time.Second)
		mustCreate(t, s, u)
	}
	for _, tc := range []struct {
		q    store.Query
		want []string
	}{
		{store.Query{Owner: "ann"}, []string{"a1", "a3", "a4", "a5", "a6"}},
		{store.Query{Tenant: "acme"}, []string{"a1", "a2", "a4", "a6"}},
		{store.Query{Route: "docs"}, []string{"a3", "a4", "a7"}},
		{store.Query{Tenant: "acme", Owner: "ann"}, []string{"a1", "a4", "a6"}},
		{store.Query{Tenant: "acme", Owner: "ann", Route: "avatar"}, []string{"a1", "a6"}},
		{store.Query{Tenant: "acme", Owner: "ann", Route: "avatar", State: store.Ready}, []string{"a1"}},
		{store.Query{Owner: "ann", State: store.Ready}, []string{"a1", "a3", "a5"}},
		{store.Query{Tenant: "umbrella", Route: "docs"}, []string{"a7"}},
		{store.Query{Owner: "nobody"}, []string{}},
		{store.Query{Tenant: "acme", Owner: "carol"}, []string{}},
		{store.Query{Owner: "ann", UpdatedBefore: base.Add(4 * time.Second)}, []string{"a1", "a3", "a4"}},
	} {
		if got := listIDs(t, s, tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("List(%+v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	// A page at a time, through the cursor, within the filter.
	var paged []string
	q := store.Query{Owner: "ann", Limit: 2}
	for range 5 {
		us, err := s.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(us) == 0 {
			break
		}
		for _, u := range us {
			if u.Owner != "ann" {
				t.Fatalf("List(owner ann) returned %s of %q", u.ID, u.Owner)
			}
			paged = append(paged, u.ID)
		}
		q.After = us[len(us)-1].Cursor()
	}
	if want := []string{"a1", "a3", "a4", "a5", "a6"}; !slices.Equal(paged, want) {
		t.Fatalf("paged List(owner ann) = %v, want %v", paged, want)
	}
	// An Update moving a record to another tenant moves it between lists,
	// and the listed record carries its new Tenant.
	if _, err := s.Update(ctx, "a2", func(u *store.Upload) error { u.Tenant = "umbrella"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, want := listIDs(t, s, store.Query{Tenant: "umbrella"}), []string{"a5", "a7", "a2"}; !slices.Equal(got, want) {
		t.Fatalf("List(tenant umbrella) after Update = %v, want %v", got, want)
	}
	if got := mustGet(t, s, "a2"); got.Tenant != "umbrella" {
		t.Fatalf("Tenant after Update = %q", got.Tenant)
	}
}
