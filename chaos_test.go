package carcosa

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carcosa-dev/carcosa/broker/pgbroker"
	"github.com/carcosa-dev/carcosa/broker/redisbroker"
	"github.com/carcosa-dev/carcosa/internal/testenv"
	"github.com/carcosa-dev/carcosa/queue/riverqueue"
	"github.com/carcosa-dev/carcosa/scan"
	"github.com/carcosa-dev/carcosa/storage"
	_ "github.com/carcosa-dev/carcosa/storage/s3"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/postgres"
	"github.com/carcosa-dev/carcosa/store/sqlite"
	"github.com/carcosa-dev/carcosa/webhook"
)

// The chaos tests run the Router in a separate process (this test binary,
// started again with CARCOSA_CHAOS_DATA set) so that they can SIGKILL it and
// start it again on the same data directory and address.

func TestMain(m *testing.M) {
	if dir := os.Getenv("CARCOSA_CHAOS_DATA"); dir != "" {
		chaosServe(dir, os.Getenv("CARCOSA_CHAOS_ADDR"), os.Getenv("CARCOSA_CHAOS_STALL") != "")
		return
	}
	os.Exit(m.Run())
}

// chaosServe is the server process of the chaos tests. OnComplete appends
// the upload's ID to DataDir/oncomplete.log (or to CARCOSA_CHAOS_LOG),
// synchronously, so the test can count its calls across kills. With stall
// set, finishing an upload writes DataDir/stalled-<id> and then hangs, for
// the test to kill the process while it verifies. CARCOSA_CHAOS_STORAGE (a
// bucket URL, used for the files and for staging) and
// CARCOSA_CHAOS_POSTGRES with CARCOSA_CHAOS_TABLE replace the embedded
// defaults. CARCOSA_CHAOS_WEBHOOK (a URL) with
// CARCOSA_CHAOS_WEBHOOK_SECRET (whsec_…) makes it an operator's webhook
// endpoint, "chaos", which receives every event.
func chaosServe(dir, addr string, stall bool) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fatal := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg := Config{DataDir: dir, Logger: log}
	if u := os.Getenv("CARCOSA_CHAOS_STORAGE"); u != "" {
		b, err := storage.Open(context.Background(), u)
		if err != nil {
			fatal(err)
		}
		cfg.Storage, cfg.Staging = b, b
	}
	if dsn := os.Getenv("CARCOSA_CHAOS_POSTGRES"); dsn != "" {
		s, err := postgres.Open(context.Background(), dsn, &postgres.Options{Table: os.Getenv("CARCOSA_CHAOS_TABLE")})
		if err != nil {
			fatal(err)
		}
		cfg.Store = s
		if schema := os.Getenv("CARCOSA_CHAOS_RIVER"); schema != "" {
			pool, err := pgxpool.New(context.Background(), dsn)
			if err != nil {
				fatal(err)
			}
			// Short bounds, so that a killed process's job is rescued
			// within the test.
			q, err := riverqueue.New(pool, &riverqueue.Options{
				Schema: schema, JobTimeout: 2 * time.Second, RescueStuckJobsAfter: 3 * time.Second,
				Backoff: func(int) time.Duration { return 100 * time.Millisecond }, Logger: log,
			})
			if err != nil {
				fatal(err)
			}
			cfg.Queue = q
		}
	}
	if u := os.Getenv("CARCOSA_CHAOS_WEBHOOK"); u != "" {
		cfg.Webhooks = []webhook.Endpoint{{Name: "chaos", URL: u, Secrets: []string{os.Getenv("CARCOSA_CHAOS_WEBHOOK_SECRET")}}}
	}
	switch os.Getenv("CARCOSA_CHAOS_BROKER") {
	case "postgres":
		b, err := pgbroker.Open(context.Background(), os.Getenv("CARCOSA_CHAOS_POSTGRES"), nil)
		if err != nil {
			fatal(err)
		}
		cfg.Broker = b
	case "redis":
		b, err := redisbroker.Open(context.Background(), os.Getenv("CARCOSA_CHAOS_REDIS"), nil)
		if err != nil {
			fatal(err)
		}
		cfg.Broker = b
	}
	if a := os.Getenv("CARCOSA_CHAOS_CLAMD"); a != "" {
		cl, err := scan.NewClamd(a, scan.ClamdOptions{})
		if err != nil {
			fatal(err)
		}
		cfg.Scanner = cl
		if os.Getenv("CARCOSA_CHAOS_SCAN_STALL") != "" {
			// The scan hangs, so that the process is killed mid-scan.
			cfg.Scanner = scan.Func(func(context.Context, io.Reader) (scan.Verdict, error) {
				os.WriteFile(filepath.Join(dir, "scanning"), nil, 0o600)
				select {}
			})
		}
	}
	r, err := New(cfg)
	if err != nil {
		fatal(err)
	}
	if stall {
		r.beforeVerify = func(id string) {
			os.WriteFile(filepath.Join(dir, "stalled-"+id), nil, 0o600)
			select {}
		}
	}
	logPath := cmp.Or(os.Getenv("CARCOSA_CHAOS_LOG"), filepath.Join(dir, "oncomplete.log"))
	onComplete := func(_ context.Context, _ struct{}, f File) (any, error) {
		lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_SYNC, 0o600)
		if err != nil {
			return nil, err
		}
		defer lf.Close()
		_, err = fmt.Fprintln(lf, f.ID)
		return nil, err
	}
	mw := func(context.Context, *Request[struct{}]) (Grant[struct{}], error) {
		return Grant[struct{}]{Owner: "chaos"}, nil
	}
	Handle(r, "files", Route[struct{}, struct{}]{
		Accept: []string{"any"}, MaxFileSize: 1 << 30, Middleware: mw, OnComplete: onComplete,
	})
	Handle(r, "images", Route[struct{}, struct{}]{
		Accept: []string{"image"}, MaxFileSize: 1 << 30, Middleware: mw, OnComplete: onComplete,
	})
	Handle(r, "async", Route[struct{}, struct{}]{
		Accept: []string{"any"}, MaxFileSize: 1 << 30, AsyncAbove: 1 << 10, Middleware: mw, OnComplete: onComplete,
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fatal(err)
	}
	fmt.Println("listening")
	http.Serve(ln, r)
}

// chaosServer is one run of the server process.
type chaosServer struct {
	t     *testing.T
	dir   string
	addr  string
	cmd   *exec.Cmd
	exit  chan error
	stall bool
}

// startChaosServer starts the server process on data directory dir and
// addr, with the further environment variables env.
func startChaosServer(t *testing.T, dir, addr string, stall bool, env ...string) *chaosServer {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "CARCOSA_CHAOS_DATA="+dir, "CARCOSA_CHAOS_ADDR="+addr)
	if stall {
		cmd.Env = append(cmd.Env, "CARCOSA_CHAOS_STALL=1")
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &chaosServer{t: t, dir: dir, addr: addr, cmd: cmd, exit: make(chan error, 1), stall: stall}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		io.Copy(io.Discard, out)
		s.exit <- cmd.Wait()
	}()
	t.Cleanup(s.kill)
	select {
	case l := <-line:
		if l != "listening" {
			t.Fatalf("server said %q", l)
		}
	case err := <-s.exit:
		t.Fatalf("the server exited before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not start within 30s")
	}
	return s
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *chaosServer) kill() {
	if s.cmd.ProcessState != nil || s.exit == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exit
	s.exit = nil
}

// freeAddr returns a loopback address no one listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// requireNode finds node and the packages of e2e/. Without them the test
// skips, except under CI=true, where it fails.
func requireNode(t *testing.T) (node, dir string) {
	t.Helper()
	dir, _ = filepath.Abs("e2e")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "tus-js-client"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and e2e/node_modules are required under CI (run .ci/run): %v", err)
		}
		t.Skipf("needs node and `npm ci --prefix e2e` (CI=true makes this a failure): %v", err)
	}
	return node, dir
}

// randomFile writes n random bytes to a new file and returns its path and
// SHA-256.
func randomFile(t *testing.T, dir, name string, n int64) (string, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), testenv.RandomReader(), n); err != nil {
		t.Fatal(err)
	}
	return p, hex.EncodeToString(h.Sum(nil))
}

// chaosEvent is a line of e2e/tus-chaos.mjs.
type chaosEvent struct {
	Event string `json:"event"`
	File  int    `json:"file"`
	Sent  int64  `json:"sent"`
	URL   string `json:"url"`
	State string `json:"state"`
}

// TestChaosKillDuringPatch kills the server at random moments while the real
// tus-js-client sends files, and starts it again on the same data directory
// and address. Every upload must end ready with its source's SHA-256, with
// one record per upload and OnComplete run once for each.
func TestChaosKillDuringPatch(t *testing.T) {
	node, e2e := requireNode(t)
	const (
		files  = 4
		size   = 24 << 20
		kills  = 12
		maxGap = 6 << 20
	)
	src := t.TempDir()
	paths := make([]string, files)
	sums := make([]string, files)
	for i := range files {
		paths[i], sums[i] = randomFile(t, src, fmt.Sprintf("file%d.bin", i), size)
	}
	dir, addr := t.TempDir(), freeAddr(t)
	srv := startChaosServer(t, dir, addr, false)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	endpoint := "http://" + addr + "/tus/"
	args := append([]string{filepath.Join(e2e, "tus-chaos.mjs"), endpoint, "files", "Infinity"}, paths...)
	client := exec.CommandContext(ctx, node, args...)
	client.Dir = e2e
	client.Stderr = os.Stderr
	out, err := client.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}

	// Kill after the server has staged a random number of new bytes since it
	// last started, so that every kill lands while bytes are flowing in.
	events := make(chan chaosEvent, 1024)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev chaosEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("client line %q: %v", sc.Text(), err)
				continue
			}
			events <- ev
		}
	}()
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 1))
	gap := func() int64 { return 1<<20 + rng.Int64N(maxGap-1<<20) }
	staged := map[string]int64{} // the most each staged file held
	stagedTotal := func() int64 {
		for name, n := range stagedSizes(t, dir) {
			staged[name] = max(staged[name], n)
		}
		var sum int64
		for _, n := range staged {
			sum += n
		}
		return sum
	}
	baseline, need, killed := int64(0), gap(), 0
	var succeeded []chaosEvent
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				break loop
			}
			if ev.Event == "success" {
				succeeded = append(succeeded, ev)
			}
		case <-tick.C:
			if killed == kills || len(succeeded) == files {
				continue
			}
			if now := stagedTotal(); now-baseline >= need {
				srv.kill()
				killed++
				t.Logf("kill %d after %d new bytes staged", killed, now-baseline)
				baseline, need = stagedTotal(), gap()
				srv = startChaosServer(t, dir, addr, false)
			}
		}
	}
	if err := client.Wait(); err != nil {
		t.Fatalf("tus-js-client: %v", err)
	}
	if killed < 10 {
		t.Fatalf("the server was killed %d times during uploads, want at least 10", killed)
	}
	if len(succeeded) != files {
		t.Fatalf("%d uploads succeeded, want %d", len(succeeded), files)
	}
	srv.kill()

	st, err := sqlite.Open(filepath.Join(dir, "carcosa.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, ev := range succeeded {
		id := ev.URL[strings.LastIndex(ev.URL, "/")+1:]
		rec, err := st.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("upload %d: %v", ev.File, err)
		}
		if rec.State != store.Ready || rec.SHA256 != sums[ev.File] || rec.Size != size {
			t.Errorf("upload %d: state %s, sha256 %s, size %d; want ready, %s, %d", ev.File, rec.State, rec.SHA256, rec.Size, sums[ev.File], size)
		}
		if got := fileSHA256(t, filepath.Join(dir, "files", rec.Key)); got != sums[ev.File] {
			t.Errorf("upload %d: stored bytes have SHA-256 %s, want %s", ev.File, got, sums[ev.File])
		}
	}
	// Exactly one record per upload, all ready. A kill that lands between
	// a creation's record and its 201 leaves an upload its client never
	// learned of, and creates again: such an upload is uploading, has no
	// byte staged, and expires after Config.IdleUploadTTL; nothing else may
	// be left over.
	total, orphans := 0, 0
	stagedTotal() // staged: the most each upload ever had staged
	for _, s := range []store.State{store.Uploading, store.Processing, store.Ready, store.Rejected, store.Failed, store.Quarantined} {
		recs, err := st.List(context.Background(), store.Query{State: s, Limit: store.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			switch {
			case s == store.Ready:
				total++
			case s == store.Uploading && staged[rec.ID] == 0:
				orphans++
				t.Logf("upload %s: created as the server was killed, never resumed, no byte staged", rec.ID)
			default:
				t.Errorf("upload %s: %s with %d bytes staged, want ready", rec.ID, s, staged[rec.ID])
			}
		}
	}
	if total != files {
		t.Errorf("the store holds %d ready records, want %d", total, files)
	}
	if orphans > kills {
		t.Errorf("%d uploads created and never resumed after %d kills", orphans, kills)
	}
	checkOnComplete(t, dir, succeededIDs(succeeded)...)
}

// stagedSizes gives the sizes of the staged data files by name.
func stagedSizes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	ents, _ := os.ReadDir(filepath.Join(dir, "tus"))
	for _, e := range ents {
		if strings.Contains(e.Name(), ".") {
			continue
		}
		if fi, err := e.Info(); err == nil {
			out[e.Name()] = fi.Size()
		}
	}
	return out
}

func succeededIDs(evs []chaosEvent) []string {
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.URL[strings.LastIndex(ev.URL, "/")+1:])
	}
	return ids
}

// checkOnComplete checks that OnComplete ran exactly once for each of ids
// and for nothing else.
func checkOnComplete(t *testing.T, dir string, ids ...string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "oncomplete.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, l := range strings.Fields(string(b)) {
		count[l]++
	}
	for _, id := range ids {
		if count[id] != 1 {
			t.Errorf("OnComplete ran %d times for %s, want once", count[id], id)
		}
		delete(count, id)
	}
	for id, n := range count {
		t.Errorf("OnComplete ran %d times for unexpected upload %s", n, id)
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// tusCreateAndSend creates a tus upload of body on route and sends it in one
// PATCH in the background; the PATCH's outcome arrives on the channel.
func tusCreateAndSend(t *testing.T, addr, route, name string, body []byte) (string, <-chan error) {
	t.Helper()
	id := tusCreateAt(t, http.DefaultClient, addr, route, name, len(body))
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPatch, "http://"+addr+"/tus/"+id, strings.NewReader(string(body)))
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", "0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("PATCH answered %s", resp.Status)
		}
		done <- err
	}()
	return id, done
}

// tusCreateAt creates a tus upload of length bytes on route at the server
// at addr and returns its ID.
func tusCreateAt(t *testing.T, client *http.Client, addr, route, name string, length int) string {
	t.Helper()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/tus/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", fmt.Sprint(length))
	req.Header.Set("Upload-Metadata", "route "+b64(route)+",filename "+b64(name))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("creation: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	return loc[strings.LastIndex(loc, "/")+1:]
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not appear within 30s", path)
}

// TestChaosKillDuringFinish kills the server while it verifies finished
// uploads. After a restart, every upload ends ready or rejected, never stuck
// in processing, and OnComplete runs once for each ready one: whether the
// recovery sweep finishes it or a client asks first.
func TestChaosKillDuringFinish(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	srv := startChaosServer(t, dir, addr, true)

	data := testenv.RandomBytes(3 << 20)
	sum := sha256.Sum256(data)

	type upload struct {
		id, want string
	}
	var ups []upload
	for _, u := range []struct{ route, name, want string }{
		{"files", "a.bin", "ready"},     // recovered by the sweep
		{"files", "b.bin", "ready"},     // recovered by the client's HEAD
		{"images", "c.png", "rejected"}, // not a PNG after all
	} {
		body := data
		if u.route == "images" {
			body = data[:4096]
		}
		id, done := tusCreateAndSend(t, addr, u.route, u.name, body)
		waitFile(t, filepath.Join(dir, "stalled-"+id))
		select {
		case err := <-done:
			t.Fatalf("the PATCH of %s ended while verification hangs: %v", u.name, err)
		default:
		}
		ups = append(ups, upload{id, u.want})
	}
	srv.kill()
	srv = startChaosServer(t, dir, addr, false)

	// The client of the second upload comes back at once and asks.
	req, _ := http.NewRequest(http.MethodHead, "http://"+addr+"/tus/"+ups[1].id, nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-State") != "ready" ||
		resp.Header.Get("Upload-Offset") != fmt.Sprint(len(data)) {
		t.Errorf("HEAD after restart: %s, Upload-State %q, Upload-Offset %q; want 200, ready, %d",
			resp.Status, resp.Header.Get("Upload-State"), resp.Header.Get("Upload-Offset"), len(data))
	}

	// The others settle without any client.
	for _, u := range ups {
		var rec Upload
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get("http://" + addr + "/uploads/" + u.id)
			if err != nil {
				t.Fatal(err)
			}
			json.NewDecoder(resp.Body).Decode(&rec)
			resp.Body.Close()
			if rec.State != "uploading" && rec.State != "processing" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("upload %s still %s 30s after the restart", u.id, rec.State)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if rec.State != u.want {
			t.Errorf("upload %s ended %s, want %s", u.id, rec.State, u.want)
		}
		if u.want == "ready" && rec.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("upload %s: sha256 %s, want %x", u.id, rec.SHA256, sum)
		}
		// Nothing of it is left in staging. The staged copy is removed
		// once the record says how the upload ended, so it may still be
		// going for a moment.
		waitStagingEmpty(t, filepath.Join(dir, "tus"), u.id)
	}
	srv.kill()
	checkOnComplete(t, dir, ups[0].id, ups[1].id)
}

// waitStagingEmpty waits until nothing of upload id is left in the staging
// directory dir, and fails the test if something still is after 10s.
func waitStagingEmpty(t *testing.T, dir, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left, _ := filepath.Glob(filepath.Join(dir, id+"*"))
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("upload %s left %v in staging", id, left)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
