package carcosa

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/scan"
)

// TestCrashMidScanResumes kills the server while it scans two uploads in
// the background (a clean one and an infected one), whose jobs die with
// the in-process queue. After a restart, the recovery sweep schedules
// them again: the clean one becomes ready, with OnComplete run once, and
// the infected one is quarantined.
func TestCrashMidScanResumes(t *testing.T) {
	t.Parallel()
	crashMidScan(t, nil, 0)
}

// TestCrashMidScanResumesRiver is TestCrashMidScanResumes on PostgreSQL
// with River's durable queue: the killed process's jobs stay in the
// database, running, until River's rescuer takes them up again.
func TestCrashMidScanResumesRiver(t *testing.T) {
	t.Parallel()
	dsn := testenv.Require(t, testenv.Postgres, "a PostgreSQL connection string, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	name := "crash_" + lifecycle.NewID()[:12]
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		pool.Exec(ctx, "DROP SCHEMA "+name+" CASCADE")
		testenv.DropPostgresTables(ctx, dsn, name)
		pool.Close()
	})
	// The jobs of the killed process are rescued 3 s after they started.
	crashMidScan(t, []string{
		"CARCOSA_CHAOS_POSTGRES=" + dsn, "CARCOSA_CHAOS_TABLE=" + name, "CARCOSA_CHAOS_RIVER=" + name,
	}, 3*time.Second)
}

// crashMidScan runs the crash test with the server's further environment
// env, waiting rest between the kill and the restart.
func crashMidScan(t *testing.T, env []string, rest time.Duration) {
	clamd := testenv.ClamdAddr(t)
	dir, addr := t.TempDir(), freeAddr(t)
	client := &http.Client{Timeout: 30 * time.Second}

	clean := testenv.RandomBytes(256 << 10)
	infected := append(bytes.Repeat([]byte("padding\n"), 512), scan.EICAR...)

	env = append(env, "CARCOSA_CHAOS_CLAMD="+clamd)
	s := startChaosServer(t, dir, addr, false, append(env, "CARCOSA_CHAOS_SCAN_STALL=1")...)
	var ids []string
	for i, data := range [][]byte{clean, infected} {
		id := tusCreateAt(t, client, addr, "async", []string{"clean.bin", "infected.txt"}[i], len(data))
		req, _ := http.NewRequest(http.MethodPatch, "http://"+addr+"/tus/"+id, bytes.NewReader(data))
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", "0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-State") != "processing" {
			t.Fatalf("last PATCH: %s, Upload-State %q", resp.Status, resp.Header.Get("Upload-State"))
		}
		ids = append(ids, id)
	}
	waitFile(t, filepath.Join(dir, "scanning"))
	s.kill()
	time.Sleep(rest)

	startChaosServer(t, dir, addr, false, env...)
	rec := func(id string) (state, sum, code string) {
		resp, err := client.Get("http://" + addr + "/uploads/" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var u struct {
			State, SHA256 string
			Error         *struct{ Code string }
		}
		json.NewDecoder(resp.Body).Decode(&u)
		if u.Error != nil {
			code = u.Error.Code
		}
		return u.State, u.SHA256, code
	}
	want := []string{"ready", "quarantined"}
	deadline := time.Now().Add(60 * time.Second)
	for i, id := range ids {
		for {
			state, sum, code := rec(id)
			if state == want[i] {
				data := [][]byte{clean, infected}[i]
				if h := sha256.Sum256(data); sum != hex.EncodeToString(h[:]) {
					t.Fatalf("upload %d: SHA-256 %s", i, sum)
				}
				if i == 1 && code != "malware_detected" {
					t.Fatalf("infected upload: code %q", code)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("upload %d still %s (%s) after the restart, want %s", i, state, code, want[i])
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	log, err := os.ReadFile(filepath.Join(dir, "oncomplete.log"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(log)); len(got) != 1 || got[0] != ids[0] {
		t.Fatalf("OnComplete ran for %v, want once for %s", got, ids[0])
	}
	resp, err := client.Get("http://" + addr + "/uploads/" + ids[0])
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}
