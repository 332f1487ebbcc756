package postgres

import (
	"slices"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/storetest"
)

// The change log records a creation, each change of state and a deletion,
// in order, with the record as written, and nothing before LogChanges nor
// for writes that keep the state; a claim hands changes out once per lease,
// and an acknowledged change is gone.
func TestChangeLog(t *testing.T) {
	s := open(t, &Options{Table: tempTable(t, newPool(t, 2))})
	before := storetest.Sample("u0")
	if err := s.Create(ctx, before); err != nil {
		t.Fatal(err)
	}
	s.LogChanges()
	u := storetest.Sample("u1")
	u.State = store.Uploading
	if err := s.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	for _, fn := range []func(*store.Upload) error{
		func(u *store.Upload) error { u.State = store.Processing; return nil },
		func(u *store.Upload) error { u.Name = "renamed.png"; return nil }, // no change of state
		func(u *store.Upload) error { u.State = store.Ready; return nil },
	} {
		if _, err := s.Update(ctx, "u1", fn); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	type step struct {
		from, to store.State
		deleted  bool
		name     string
	}
	want := []step{
		{"", store.Uploading, false, u.Name},
		{store.Uploading, store.Processing, false, u.Name},
		{store.Processing, store.Ready, false, "renamed.png"},
		{store.Ready, store.Ready, true, "renamed.png"},
	}
	changes, err := s.ClaimChanges(ctx, 10, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var got []step
	for _, c := range changes {
		if c.Record.ID != "u1" {
			t.Fatalf("a change of %s", c.Record.ID)
		}
		got = append(got, step{c.From, c.Record.State, c.Deleted, c.Record.Name})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	if again, err := s.ClaimChanges(ctx, 10, time.Hour); err != nil || len(again) != 0 {
		t.Fatalf("claimed again within the lease: %d changes, %v", len(again), err)
	}
	// A reader that claimed and died: its changes come back after the lease.
	if err := s.AckChanges(ctx, []int64{changes[0].Seq}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE `+s.changes+` SET claimed_until = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	back, err := s.ClaimChanges(ctx, 10, time.Hour)
	if err != nil || len(back) != 3 || back[0].Seq != changes[1].Seq {
		t.Fatalf("after the lease: %d changes, %v", len(back), err)
	}
	if err := s.AckChanges(ctx, []int64{back[0].Seq, back[1].Seq, back[2].Seq}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE `+s.changes+` SET claimed_until = NULL`); err != nil {
		t.Fatal(err)
	}
	if rest, err := s.ClaimChanges(ctx, 10, time.Hour); err != nil || len(rest) != 0 {
		t.Fatalf("after acknowledging all: %d changes, %v", len(rest), err)
	}
	if _, err := s.ClaimChanges(ctx, 0, time.Hour); err == nil {
		t.Error("a claim of 0 changes succeeded")
	}
}
