package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/queue/riverqueue"
	"github.com/carcosa-dev/carcosa/scan"
)

// TestNoScannerWarns checks that a server started without -clamd says
// once, at start-up, that files are not scanned, and how to scan them.
func TestNoScannerWarns(t *testing.T) {
	_, logs := startServerLogs(t, options{Data: t.TempDir()})
	log := logs.String()
	if n := strings.Count(log, "uploaded files are not scanned"); n != 1 {
		t.Errorf("the warning that files are not scanned appears %d times, want once:\n%s", n, log)
	}
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "-clamd tcp://") {
		t.Errorf("the log does not warn and name -clamd:\n%s", log)
	}
}

// TestClamdQuarantine runs the example with -clamd on the test clamd: an
// EICAR file, sent by multipart or tus, is refused with 422
// malware_detected and its record ends quarantined; a clean file is
// ready, scanned clean. The route limits follow -clamd-max-size.
func TestClamdQuarantine(t *testing.T) {
	addr := testenv.ClamdAddr(t)
	const maxScan = 8 << 20
	base := startServerWith(t, options{Data: t.TempDir(), Clamd: addr, ClamdMaxSize: maxScan})
	client := &http.Client{Timeout: 30 * time.Second}

	body, _ := get(t, base+"/api/uploads/routes", http.StatusOK)
	var routes struct {
		Routes []struct {
			Name        string `json:"name"`
			MaxFileSize int64  `json:"maxFileSize"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(body, &routes); err != nil {
		t.Fatal(err)
	}
	for _, r := range routes.Routes {
		if r.MaxFileSize > maxScan {
			t.Errorf("route %s takes files up to %d bytes, above -clamd-max-size %d", r.Name, r.MaxFileSize, maxScan)
		}
	}

	multipartPost := func(name string, data []byte) (int, []byte) {
		t.Helper()
		resp, rb := postMultipart(t, client, base, "files", name, data)
		return resp.StatusCode, rb
	}
	wantMalware := func(how string, status int, rb []byte) {
		t.Helper()
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.Unmarshal(rb, &e)
		if status != http.StatusUnprocessableEntity || e.Error.Code != "malware_detected" {
			t.Errorf("%s of EICAR: %d %s, want 422 malware_detected", how, status, truncate(rb))
		}
	}

	status, rb := multipartPost("eicar.txt", []byte(scan.EICAR))
	wantMalware("multipart upload", status, rb)

	clean := []byte("Nothing here but a note that Carcosa scanned before keeping it.\n")
	status, rb = multipartPost("note.txt", clean)
	var created struct {
		Uploads []record `json:"uploads"`
	}
	if err := json.Unmarshal(rb, &created); status != http.StatusCreated || err != nil || len(created.Uploads) != 1 {
		t.Fatalf("multipart upload of a clean file: %d %s", status, truncate(rb))
	}
	if rec := created.Uploads[0]; rec.State != "ready" || rec.Scan != "clean" {
		t.Errorf("the clean file's record: state %q, scan %q; want ready, clean", rec.State, rec.Scan)
	}
	served, _ := get(t, resolve(t, base, created.Uploads[0].URL), http.StatusOK)
	if !bytes.Equal(served, clean) {
		t.Errorf("the clean file is served as %q", served)
	}

	// tus: create, then send the bytes; the PATCH that completes the
	// upload answers the scan's outcome.
	eicar := []byte("a text file that carries " + scan.EICAR + " inside")
	req, _ := http.NewRequest(http.MethodPost, base+"/api/uploads/tus/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(len(eicar)))
	req.Header.Set("Upload-Metadata", "route "+b64("files")+",filename "+b64("eicar.txt"))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("tus creation: %s", resp.Status)
	}
	loc := resolve(t, base, resp.Header.Get("Location"))
	req, _ = http.NewRequest(http.MethodPatch, loc, bytes.NewReader(eicar))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	wantMalware("tus upload", resp.StatusCode, rb)

	rec := getRecord(t, base, path.Base(loc))
	if rec.State != "quarantined" || rec.Scan != "infected" || rec.Signature == "" || rec.URL != "" ||
		rec.Error == nil || rec.Error.Code != "malware_detected" {
		t.Errorf("the infected upload's record: %+v; want quarantined, infected, a signature, no url, error malware_detected", rec)
	}
}

// TestClamdPostgresBackground runs the example with -clamd and -postgres:
// a file above the routes' AsyncAbove (32 MiB) is answered "processing"
// when its last byte arrives, then scanned by a job of the River queue in
// PostgreSQL, and becomes ready.
func TestClamdPostgresBackground(t *testing.T) {
	addr := testenv.ClamdAddr(t)
	dsn := postgresDSN(t)
	table := tempTable(t, dsn)
	schema := tempSchema(t, dsn)
	base := startServerWith(t, options{
		Data: t.TempDir(), Clamd: addr, ClamdMaxSize: 64 << 20,
		Postgres: dsn, PostgresTable: table, QueueSchema: schema,
	})
	client := &http.Client{Timeout: time.Minute}

	data := testenv.RandomBytes(40 << 20)
	resp, rb := tusCreateWithUpload(t, client, base, "files", "random.bin", data)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Upload-State") != "processing" {
		t.Fatalf("tus upload: %s, Upload-State %q, want 201 processing\n%s", resp.Status, resp.Header.Get("Upload-State"), truncate(rb))
	}
	id := path.Base(resp.Header.Get("Location"))

	var rec record
	for deadline := time.Now().Add(time.Minute); ; {
		if rec = getRecord(t, base, id); rec.State != "processing" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rec.State != "ready" || rec.Scan != "clean" || rec.SHA256 != sum(data) {
		t.Fatalf("the record: state %q, scan %q, sha256 %s; want ready, clean, %s (error: %+v)", rec.State, rec.Scan, rec.SHA256, sum(data), rec.Error)
	}

	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// River records a job completed in batches, a moment after it ran.
	var jobs int
	for deadline := time.Now().Add(10 * time.Second); ; {
		err = pool.QueryRow(t.Context(), `SELECT count(*) FROM `+pgx.Identifier{schema, "river_job"}.Sanitize()+
			` WHERE kind = $1 AND state = 'completed'`, riverqueue.Kind).Scan(&jobs)
		if err != nil {
			t.Fatal(err)
		}
		if jobs > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if jobs != 1 {
		t.Errorf("River holds %d completed jobs in schema %s, want 1", jobs, schema)
	}
}

// tempSchema creates a schema of a new name for River's tables, dropped
// with them when the test ends.
func tempSchema(t *testing.T, dsn string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "carcosa_example_queue_" + hex.EncodeToString(b)
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(t.Context(), `CREATE SCHEMA `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
			return
		}
		defer pool.Close()
		if _, err := pool.Exec(ctx, `DROP SCHEMA `+name+` CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
	})
	return name
}
