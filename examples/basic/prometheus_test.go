package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// prometheusBinary returns the path of the Prometheus server. Without it
// the test skips, except under CI=true, where .ci/run installs it and the
// test fails.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("prometheus is not installed; CI must provide it (.ci/run installs Debian's prometheus package)")
	}
	t.Skip("the Prometheus server is not installed (Debian: apt-get install prometheus): the example is not scraped for real")
	return ""
}

// startPrometheus runs a Prometheus server that scrapes target's /metrics
// every second as the job "carcosa", with rules loaded, and returns its
// base URL once it is ready. It stops when the test ends.
func startPrometheus(t *testing.T, target string, rules ...string) string {
	t.Helper()
	bin := prometheusBinary(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%s]
scrape_configs:
  - job_name: carcosa
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: [%q]
`, strings.Join(quoteAll(rules), ", "), target)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logs := &syncBuffer{}
	cmd := exec.Command(bin,
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("prometheus exited: %v\n%s", err, logs.String())
		default:
		}
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus was not ready within 30s\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// promSample is one sample of an instant query's answer.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // time, value as a string
}

// query runs an instant query on the Prometheus at base.
func query(t *testing.T, base, q string) []promSample {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || ans.Status != "success" {
		t.Fatalf("query %s: %s %v %s", q, resp.Status, err, ans.Error)
	}
	return ans.Data.Result
}

// TestPrometheusScrapes runs a real Prometheus server against the example's
// admin address: it scrapes /metrics, sees an upload counted, and loads the
// alert rules of examples/ops.
func TestPrometheusScrapes(t *testing.T) {
	t.Parallel()
	prometheusBinary(t) // skips before the example starts
	rules, err := filepath.Abs(filepath.Join("..", "ops", "carcosa-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	admin := freeAddr(t)
	base := startServerWith(t, options{Data: t.TempDir(), AdminAddr: admin})
	prom := startPrometheus(t, admin, rules)

	client := &http.Client{Timeout: 30 * time.Second}
	data := []byte("hello, prometheus\n")
	resp, body := send(t, client, http.MethodPost, base+"/api/uploads/tus/", data, map[string]string{
		"Upload-Length":   strconv.Itoa(len(data)),
		"Upload-Metadata": "route " + b64("documents") + ",filename " + b64("hello.txt"),
		"Content-Type":    "application/offset+octet-stream",
	})
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Upload-State") != "ready" {
		t.Fatalf("tus creation with upload: %s, Upload-State %q %s", resp.Status, resp.Header.Get("Upload-State"), truncate(body))
	}

	// eventually polls q until check accepts its answer.
	eventually := func(q string, check func([]promSample) bool) []promSample {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			res := query(t, prom, q)
			if check(res) {
				return res
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 30s, Prometheus answers %s with %+v", q, res)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	one := func(res []promSample) bool { return len(res) == 1 && res[0].Value[1] == "1" }
	eventually(`carcosa_uploads_total{job="carcosa",route="documents",state="ready"}`, one)
	eventually(`up{job="carcosa"}`, one)
	eventually(`count(carcosa_queue_jobs{kind="carcosa.process"})`, func(res []promSample) bool {
		return len(res) == 1 && res[0].Value[1] == "5" // one per state
	})

	resp, err = http.Get(prom + "/api/v1/rules?type=alert")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rs struct {
		Data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name   string `json:"name"`
					Health string `json:"health"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil {
		t.Fatal(err)
	}
	if len(rs.Data.Groups) != 1 || len(rs.Data.Groups[0].Rules) == 0 {
		t.Fatalf("Prometheus loaded the rule groups %+v; want carcosa's", rs.Data.Groups)
	}
	for _, r := range rs.Data.Groups[0].Rules {
		if r.Health == "err" {
			t.Errorf("the alert %s fails to evaluate", r.Name)
		}
	}
}
