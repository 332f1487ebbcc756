package carcosa

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/store/postgres"
)

// TestScaleOutLive runs three instances on one MinIO bucket, one
// PostgreSQL table and one Broker (PostgreSQL's LISTEN/NOTIFY, then
// Redis), sends a resumable upload's chunks to instance A and follows the
// upload's event stream on instances B and C: each PATCH's progress, at its
// end offset, reaches both within a second of A's answer, and both streams
// end with the upload ready.
func TestScaleOutLive(t *testing.T) {
	dsn := testenv.Require(t, testenv.Postgres, "a PostgreSQL connection string, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	endpoint := testenv.S3Endpoint(t)
	for _, kind := range []string{"postgres", "redis"} {
		t.Run(kind, func(t *testing.T) {
			env := []string{"CARCOSA_CHAOS_BROKER=" + kind}
			if kind == "redis" {
				env = append(env, "CARCOSA_CHAOS_REDIS="+testenv.Require(t, testenv.Redis, "a Redis URL, e.g. redis://127.0.0.1:6379/0"))
			}
			scaleOutLive(t, dsn, endpoint, env)
		})
	}
}

func scaleOutLive(t *testing.T, dsn, endpoint string, env []string) {
	bucket := testenv.TempS3Bucket(t, endpoint)
	table := "live_" + lifecycle.NewID()[:12]
	admin, err := postgres.Open(t.Context(), dsn, &postgres.Options{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Close()
		if err := testenv.DropPostgresTables(context.Background(), dsn, table); err != nil {
			t.Error(err)
		}
	})
	shared := t.TempDir()
	env = append(env,
		"CARCOSA_CHAOS_STORAGE="+testenv.S3URL(endpoint, bucket, ""),
		"CARCOSA_CHAOS_POSTGRES="+dsn,
		"CARCOSA_CHAOS_TABLE="+table,
		"CARCOSA_CHAOS_LOG="+filepath.Join(shared, "oncomplete.log"),
	)
	var srv [3]*chaosServer
	for i := range srv {
		srv[i] = startChaosServer(t, t.TempDir(), freeAddr(t), false, env...)
	}
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()

	const size, chunk = 4 << 20, 256 << 10
	src := testenv.RandomBytes(size)
	id := tusCreateAt(t, client, srv[0].addr, "files", "data.bin", size)

	// follow reads an instance's event stream of the upload, noting when
	// each progress offset and each state arrive.
	type follower struct {
		mu       sync.Mutex
		progress map[int64]time.Time
		states   []string
		done     chan struct{}
	}
	follow := func(s *chaosServer) *follower {
		f := &follower{progress: map[int64]time.Time{}, done: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.addr+"/uploads/"+id+"/events", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("event stream on %s: %s", s.addr, resp.Status)
		}
		ready := make(chan struct{})
		go func() {
			defer close(f.done)
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			event, first := "", true
			for sc.Scan() {
				line := sc.Text()
				switch {
				case strings.HasPrefix(line, "event: "):
					event = strings.TrimPrefix(line, "event: ")
				case strings.HasPrefix(line, "data: "):
					now := time.Now()
					var d struct {
						Offset int64
						State  string
					}
					json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d)
					f.mu.Lock()
					if event == "progress" {
						if _, ok := f.progress[d.Offset]; !ok {
							f.progress[d.Offset] = now
						}
					} else {
						f.states = append(f.states, d.State)
					}
					f.mu.Unlock()
					if first {
						first = false
						close(ready)
					}
				}
			}
		}()
		select {
		case <-ready: // the stream's first state: subscribed
		case <-time.After(10 * time.Second):
			t.Fatalf("no first event on %s", s.addr)
		}
		return f
	}
	followers := []*follower{follow(srv[1]), follow(srv[2])}

	for off := int64(0); off < size; off += chunk {
		req, _ := http.NewRequest(http.MethodPatch, "http://"+srv[0].addr+"/tus/"+id, bytes.NewReader(src[off:off+chunk]))
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		acked := time.Now()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PATCH at %d: %s", off, resp.Status)
		}
		for i, f := range followers {
			deadline := acked.Add(time.Second)
			for {
				f.mu.Lock()
				_, ok := f.progress[off+chunk]
				f.mu.Unlock()
				if ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("instance %d: no progress at %d within 1 s of A's answer", i+1, off+chunk)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	for i, f := range followers {
		select {
		case <-f.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("instance %d: the stream did not end", i+1)
		}
		f.mu.Lock()
		states := fmt.Sprint(f.states)
		f.mu.Unlock()
		if !strings.HasSuffix(states, "ready]") {
			t.Errorf("instance %d: states %s, want them to end ready", i+1, states)
		}
	}
	checkOnComplete(t, shared, id)
}
