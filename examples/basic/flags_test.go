package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/postgres"
)

// postgresDSN returns the test database's connection string (testenv.Postgres).
func postgresDSN(t *testing.T) string {
	t.Helper()
	return testenv.Require(t, testenv.Postgres, "a PostgreSQL connection string, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
}

// tempTable returns a table name of the test's own, and drops the table and
// its schema-version row when the test ends.
func tempTable(t *testing.T, dsn string) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	name := "carcosa_example_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := testenv.DropPostgresTables(ctx, dsn, name); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	return name
}

// TestBucketAndPostgres runs the example with -storage on a directory of
// its own and -postgres on the test database, uploads a file through
// multipart and one through tus, and finds their bytes in the bucket and
// their records in PostgreSQL, with nothing of either under -data.
func TestBucketAndPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	table := tempTable(t, dsn)
	data, files := t.TempDir(), t.TempDir()
	base := startServerWith(t, options{
		Data:          data,
		Storage:       "file://" + filepath.ToSlash(files),
		Postgres:      dsn,
		PostgresTable: table,
		QueueSchema:   tempSchema(t, dsn),
	})
	client := &http.Client{Timeout: 30 * time.Second}

	// Multipart, into the private "documents" route.
	text := []byte("Carcosa keeps this note in the bucket and its record in PostgreSQL.\n")
	resp, rb := postMultipart(t, client, base, "documents", "note.txt", text)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("multipart upload: %s\n%s", resp.Status, truncate(rb))
	}
	var created struct {
		Uploads []record `json:"uploads"`
	}
	if err := json.Unmarshal(rb, &created); err != nil || len(created.Uploads) != 1 {
		t.Fatalf("multipart upload: %v\n%s", err, truncate(rb))
	}
	multipartID := created.Uploads[0].ID

	// tus, creation with upload, into the "files" route.
	bin := testenv.RandomBytes(300 << 10)
	resp, rb = tusCreateWithUpload(t, client, base, "files", "random.bin", bin)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("tus upload: %s, Upload-State %q\n%s", resp.Status, resp.Header.Get("Upload-State"), truncate(rb))
	}
	tusID := path.Base(resp.Header.Get("Location"))

	db, err := postgres.Open(context.Background(), dsn, &postgres.Options{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		id   string
		data []byte
	}{{multipartID, text}, {tusID, bin}} {
		rec := getRecord(t, base, c.id)
		if rec.State != "ready" {
			t.Fatalf("upload %s: state %q, want ready (error: %+v)", c.id, rec.State, rec.Error)
		}
		want := sum(c.data)
		if rec.SHA256 != want {
			t.Errorf("upload %s: sha256 %s, want %s", c.id, rec.SHA256, want)
		}
		stored, err := os.ReadFile(filepath.Join(files, filepath.FromSlash(rec.Key)))
		if err != nil {
			t.Errorf("upload %s: not in the -storage bucket: %v", c.id, err)
		} else if sum(stored) != want {
			t.Errorf("upload %s: the bucket holds %d bytes with sha256 %s; want %d bytes with %s", c.id, len(stored), sum(stored), len(c.data), want)
		}
		served, _ := get(t, resolve(t, base, rec.URL), http.StatusOK)
		if sum(served) != want {
			t.Errorf("upload %s: %s serves %d bytes, not the file", c.id, rec.URL, len(served))
		}
		u, err := db.Get(context.Background(), c.id)
		if err != nil {
			t.Errorf("upload %s: not in PostgreSQL table %s: %v", c.id, table, err)
			continue
		}
		if u.State != store.Ready || u.Key != rec.Key || u.SHA256 != want {
			t.Errorf("upload %s: PostgreSQL holds state %q, key %q, sha256 %s; want ready, %q, %s", c.id, u.State, u.Key, u.SHA256, rec.Key, want)
		}
	}

	for _, name := range []string{"files", "carcosa.db"} {
		if _, err := os.Stat(filepath.Join(data, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("-data holds %s although -storage and -postgres are set (stat: %v)", name, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(data, "tus")); err != nil || !fi.IsDir() {
		t.Errorf("-data holds no tus staging area: %v", err)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestStartupFailures checks that a backend that cannot be opened stops run
// before it listens, soon, with an error that names the flag and quotes no
// secret of its URL or DSN.
func TestStartupFailures(t *testing.T) {
	const secret = "s3cret"
	// fakeS3 answers every request as S3 does for a missing bucket, or
	// for an unknown access key when the bucket is named "denied".
	fakeS3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		if strings.HasPrefix(r.URL.Path, "/denied") {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The Access Key Id you provided does not exist in our records.</Message></Error>`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>`)
	}))
	defer fakeS3.Close()
	awsEnv := func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
		t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	}
	cases := []struct {
		name     string
		o        options
		flag     string
		needs    string // a bucket scheme that must be registered
		setupEnv func(t *testing.T)
		want     string // in the error, when not empty
	}{
		{name: "unknown scheme", o: options{Storage: "nosuch://x"}, flag: "-storage"},
		{name: "unknown scheme with credentials", o: options{Storage: "nosuch://key:" + secret + "@x/?token=" + secret}, flag: "-storage"},
		{name: "malformed storage URL", o: options{Storage: "file://%zz" + secret}, flag: "-storage"},
		{name: "unreachable S3 endpoint", flag: "-storage", needs: "s3",
			o:        options{Storage: "s3://carcosa-missing?endpoint=http://127.0.0.1:1&use_path_style=true&region=us-east-1"},
			setupEnv: awsEnv},
		{name: "missing S3 bucket", flag: "-storage", needs: "s3",
			o:        options{Storage: "s3://carcosa-missing?endpoint=" + fakeS3.URL + "&use_path_style=true&region=us-east-1"},
			setupEnv: awsEnv, want: "does not exist"},
		{name: "refused S3 credentials", flag: "-storage", needs: "s3",
			o:        options{Storage: "s3://denied?endpoint=" + fakeS3.URL + "&use_path_style=true&region=us-east-1"},
			setupEnv: awsEnv, want: "InvalidAccessKeyId"},
		{name: "unreachable database", o: options{Postgres: "postgres://u:" + secret + "@127.0.0.1:1/x?connect_timeout=2"}, flag: "-postgres"},
		{name: "unreachable database, key=value", o: options{Postgres: "host=127.0.0.1 port=1 user=u password=" + secret + " dbname=x connect_timeout=2"}, flag: "-postgres"},
		{name: "password glued to the host", o: options{Postgres: "host=127.0.0.1port=1password=" + secret}, flag: "-postgres"},
		{name: "malformed DSN", o: options{Postgres: "postgres://u:" + secret + "@127.0.0.1:notaport/x"}, flag: "-postgres"},
		{name: "good bucket, unreachable database", flag: "-postgres",
			o: options{Storage: "mem://", Postgres: "postgres://u:" + secret + "@127.0.0.1:1/x?connect_timeout=2"}},
		{name: "unreachable clamd", o: options{Clamd: "tcp://127.0.0.1:1"}, flag: "-clamd", want: "does not answer"},
		{name: "clamd socket missing", o: options{Clamd: "unix:///nonexistent/clamd.ctl"}, flag: "-clamd", want: "does not answer"},
		{name: "malformed webhook secret", o: options{Webhooks: []string{"http://127.0.0.1:1/"}, WebhookSecret: "whsec_" + secret}, flag: "-webhook-secret"},
		{name: "webhook secret without a webhook", o: options{WebhookSecret: "whsec_" + secret}, flag: "-webhook-secret"},
		{name: "webhook not http", o: options{Webhooks: []string{"ftp://u:" + secret + "@example.com/"}}, flag: "-webhook", want: "scheme"},
		{name: "malformed clamd address", o: options{Clamd: "http://127.0.0.1:3310"}, flag: "-clamd", want: "tcp://host:port"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.needs != "" && !blob.DefaultURLMux().ValidBucketScheme(c.needs) {
				t.Skipf("no %s:// driver is registered in storage.Open", c.needs)
			}
			if c.setupEnv != nil {
				c.setupEnv(t)
			}
			o := c.o
			o.Addr = "127.0.0.1:0"
			o.Data = t.TempDir()
			o.PostgresTable = postgres.DefaultTable
			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ready := make(chan string, 1)
			errc := make(chan error, 1)
			start := time.Now()
			go func() { errc <- run(ctx, log, o, ready) }()
			var err error
			select {
			case err = <-errc:
			case <-time.After(20 * time.Second):
				cancel()
				<-errc
				t.Fatalf("run did not fail within 20s\nlog:\n%s", logs.String())
			}
			elapsed := time.Since(start)
			if err == nil {
				t.Fatal("run returned nil, want an error")
			}
			t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
			select {
			case addr := <-ready:
				t.Errorf("the server listened on %s before failing", addr)
			default:
			}
			if !strings.HasPrefix(err.Error(), c.flag+":") {
				t.Errorf("the error does not start with %q: %v", c.flag+":", err)
			}
			if c.want != "" && !strings.Contains(err.Error(), c.want) {
				t.Errorf("the error does not say %q: %v", c.want, err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
				t.Errorf("the error or the log holds the secret %q:\nerror: %v\nlog:\n%s", secret, err, logs.String())
			}
		})
	}
}

// -quota-files and -quota-bytes bound what visitors keep; -rate limits
// each client address.
func TestQuotaAndRateFlags(t *testing.T) {
	t.Parallel()
	base := startServerWith(t, options{Data: t.TempDir(), QuotaFiles: 1, QuotaBytes: 1 << 20})
	upload := func() (*http.Response, []byte) {
		t.Helper()
		return tusCreateWithUpload(t, http.DefaultClient, base, "files", "a.bin", testenv.RandomBytes(1000))
	}
	if resp, body := upload(); resp.StatusCode != http.StatusCreated || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("first upload: %s %s", resp.Status, truncate(body))
	}
	resp, body := upload()
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), `"quota_exceeded"`) {
		t.Fatalf("second upload: %s %s; want 429 quota_exceeded", resp.Status, truncate(body))
	}
	resp, err := http.Get(base + "/api/uploads/usage?route=files")
	if err != nil {
		t.Fatal(err)
	}
	var usage struct {
		Quotas []struct {
			Scope                           string
			UsedBytes, UsedFiles, LeftFiles int64
			LimitBytes                      int64
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&usage)
	resp.Body.Close()
	if err != nil || len(usage.Quotas) == 0 || usage.Quotas[0].UsedFiles != 1 || usage.Quotas[0].UsedBytes != 1000 ||
		usage.Quotas[0].LeftFiles != 0 || usage.Quotas[0].LimitBytes != 1<<20 {
		t.Fatalf("usage: %+v (%v)", usage, err)
	}

	limited := startServerWith(t, options{Data: t.TempDir(), Rate: 0.1}) // a burst of 1
	for i, want := range []int{http.StatusOK, http.StatusTooManyRequests} {
		resp, err := http.Get(limited + "/api/uploads/routes")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || (want == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "") {
			t.Fatalf("request %d: %s, Retry-After %q; want %d", i, resp.Status, resp.Header.Get("Retry-After"), want)
		}
	}
}

// healthStatus returns the status of GET u and its body.
func healthStatus(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// freeAddr returns an address on 127.0.0.1 that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Without -admin-addr, /livez and /readyz are served beside the uploads;
// with it, on that address only.
func TestAdminAddrFlag(t *testing.T) {
	t.Parallel()
	base := startServer(t)
	for _, p := range []string{"/livez", "/readyz"} {
		if code, body := healthStatus(t, base+p); code != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
			t.Errorf("GET %s on the main address: %d %s", p, code, truncate([]byte(body)))
		}
	}

	admin := freeAddr(t)
	base = startServerWith(t, options{Data: t.TempDir(), AdminAddr: admin})
	code, body := healthStatus(t, "http://"+admin+"/readyz")
	if code != http.StatusOK {
		t.Fatalf("GET /readyz on -admin-addr: %d %s", code, truncate([]byte(body)))
	}
	for _, check := range []string{`"store"`, `"bucket"`, `"staging"`, `"queue"`} {
		if !strings.Contains(body, check) {
			t.Errorf("/readyz lacks the check %s: %s", check, body)
		}
	}
	if code, _ := healthStatus(t, "http://"+admin+"/livez"); code != http.StatusOK {
		t.Errorf("GET /livez on -admin-addr: %d", code)
	}
	healthStatus(t, base+"/api/uploads/routes") // a request for the metrics to count
	if code, body := healthStatus(t, "http://"+admin+"/metrics"); code != http.StatusOK || !strings.Contains(body, "carcosa_http_requests_total") {
		t.Errorf("GET /metrics on -admin-addr: %d %s", code, truncate([]byte(body)))
	}
	for _, p := range []string{"/livez", "/readyz", "/metrics"} {
		if code, _ := healthStatus(t, base+p); code != http.StatusNotFound {
			t.Errorf("GET %s on the main address with -admin-addr: %d, want 404", p, code)
		}
	}
}
