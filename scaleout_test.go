package carcosa

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/internal/testenv"
	_ "github.com/carcosa-dev/carcosa/storage/s3"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/postgres"
)

// TestScaleOut runs three instances on one MinIO bucket and one PostgreSQL
// table, each with its own data directory, and sends one resumable
// upload's chunks to them in turn. One instance is SIGKILLed while a PATCH
// streams into it; the upload then finishes on the others. The file must
// end ready with its source's SHA-256, in exactly one record, with
// OnComplete run once, and be served byte for byte by every live instance.
func TestScaleOut(t *testing.T) {
	dsn := testenv.Require(t, testenv.Postgres, "a PostgreSQL connection string, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	endpoint := testenv.S3Endpoint(t)
	bucket := testenv.TempS3Bucket(t, endpoint)
	table := "scaleout_" + lifecycle.NewID()[:12]
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
	env := []string{
		"CARCOSA_CHAOS_STORAGE=" + testenv.S3URL(endpoint, bucket, ""),
		"CARCOSA_CHAOS_POSTGRES=" + dsn,
		"CARCOSA_CHAOS_TABLE=" + table,
		"CARCOSA_CHAOS_LOG=" + filepath.Join(shared, "oncomplete.log"),
	}
	var srv [3]*chaosServer
	for i := range srv {
		srv[i] = startChaosServer(t, t.TempDir(), freeAddr(t), false, env...)
	}
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()

	const size, chunk = 40 << 20, 3 << 20
	src := testenv.RandomBytes(size)
	want := sha256.Sum256(src)

	id := tusCreateAt(t, client, srv[0].addr, "files", "data.bin", size)

	head := func(s *chaosServer) int64 {
		t.Helper()
		req, _ := http.NewRequest(http.MethodHead, "http://"+s.addr+"/tus/"+id, nil)
		req.Header.Set("Tus-Resumable", "1.0.0")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HEAD on %s: %s", s.addr, resp.Status)
		}
		off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
		if err != nil {
			t.Fatalf("HEAD on %s: Upload-Offset %q", s.addr, resp.Header.Get("Upload-Offset"))
		}
		return off
	}
	patch := func(s *chaosServer, off int64, body io.Reader, n int64) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPatch, "http://"+s.addr+"/tus/"+id, body)
		req.ContentLength = n
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		return client.Do(req)
	}

	live := []*chaosServer{srv[0], srv[1], srv[2]}
	killed := false
	var state string
	for turn := 0; state == "" && turn < 100; turn++ {
		s := live[turn%len(live)]
		off := head(s)
		// Every live instance sees the same offset.
		for _, o := range live {
			if got := head(o); got != off {
				t.Fatalf("offset %d on %s, %d on %s", off, s.addr, got, o.addr)
			}
		}
		n := min(int64(chunk), size-off)
		if !killed && off >= 3*chunk && s == srv[1] {
			// Stream half the chunk into this instance, then kill it
			// while the PATCH is still open.
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				resp, err := patch(s, off, pr, n)
				if err == nil {
					resp.Body.Close()
					err = fmt.Errorf("PATCH answered %s", resp.Status)
				}
				done <- err
			}()
			if _, err := pw.Write(src[off : off+n/2]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			s.kill()
			pw.CloseWithError(io.ErrClosedPipe)
			if err := <-done; err == nil {
				t.Fatal("the PATCH to the killed instance succeeded")
			}
			killed = true
			live = []*chaosServer{srv[0], srv[2]}
			continue
		}
		resp, err := patch(s, off, bytes.NewReader(src[off:off+n]), n)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PATCH at %d on %s: %s %s", off, s.addr, resp.Status, body)
		}
		state = resp.Header.Get("Upload-State")
	}
	if !killed {
		t.Fatal("no instance was killed")
	}
	if state != string(store.Ready) {
		t.Fatalf("the last PATCH answered Upload-State %q, want ready", state)
	}

	// Every live instance knows the upload as ready and serves its bytes.
	var up Upload
	for _, s := range live {
		resp, err := client.Get("http://" + s.addr + "/uploads/" + id)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&up)
		resp.Body.Close()
		if err != nil || up.State != string(store.Ready) || up.SHA256 != hex.EncodeToString(want[:]) {
			t.Fatalf("GET /uploads/%s on %s: %+v, %v", id, s.addr, up, err)
		}
		resp, err = client.Get("http://" + s.addr + up.URL)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("download from %s: %s, %v, wrong bytes", s.addr, resp.Status, err)
		}
	}

	// Exactly one record, and OnComplete ran once.
	total := 0
	for _, st := range []store.State{store.Uploading, store.Processing, store.Ready, store.Rejected, store.Failed, store.Quarantined} {
		page, err := admin.List(t.Context(), store.Query{State: st})
		if err != nil {
			t.Fatal(err)
		}
		total += len(page)
	}
	if total != 1 {
		t.Errorf("the store holds %d records, want 1", total)
	}
	checkOnComplete(t, shared, id)
}
