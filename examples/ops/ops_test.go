package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carcosa-dev/carcosa"
)

const (
	alertsFile    = "carcosa-alerts.yml"
	alertsTests   = "carcosa-alerts_test.yml"
	dashboardFile = "carcosa-dashboard.json"
)

// promtool returns the path of promtool. Without it the test skips, except
// under CI=true, where .ci/run installs it and the test fails.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed; CI must provide it (.ci/run installs Debian's prometheus package)")
		}
		t.Skip("promtool is not installed (Debian: apt-get install prometheus): the rules are not checked")
	}
	return p
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestAlertRulesCheck(t *testing.T) {
	t.Parallel()
	runPromtool(t, "check", "rules", alertsFile)
}

func TestAlertRulesUnitTests(t *testing.T) {
	t.Parallel()
	runPromtool(t, "test", "rules", alertsTests)
}

// recorder is a prometheus.Registerer that keeps the names of the metrics
// registered on it.
type recorder struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		r.Register(c)
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return true }

// exposed returns the names of the metrics a Router registers, with the
// series names of histograms (_bucket, _sum, _count), and Prometheus's own
// up.
func exposed(t *testing.T) map[string]bool {
	t.Helper()
	rec := &recorder{names: map[string]bool{}}
	r, err := carcosa.New(carcosa.Config{
		DataDir: t.TempDir(), Metrics: rec,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	for _, n := range []string{"carcosa_uploads_total", "carcosa_queue_jobs", "carcosa_breaker_state", "carcosa_storage_operations_total"} {
		if !rec.names[n] {
			t.Fatalf("a Router registered %v; want %s among them", rec.names, n)
		}
	}
	names := map[string]bool{"up": true}
	for n := range rec.names {
		names[n] = true
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			names[n+s] = true
		}
	}
	return names
}

// carcosaName matches the names of Carcosa's metrics in a text.
var carcosaName = regexp.MustCompile(`\bcarcosa_[a-z_]+\b`)

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	SchemaVersion int     `json:"schemaVersion"`
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

// exprs returns the PromQL of the dashboard's panels, by panel title.
func (d *dashboard) exprs() map[string][]string {
	out := map[string][]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out[p.Title] = append(out[p.Title], tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

func readDashboard(t *testing.T) *dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return &d
}

// TestDashboard checks the dashboard's shape: a Prometheus data source
// variable that every panel uses, unique panel IDs, and queries in every
// panel but the rows.
func TestDashboard(t *testing.T) {
	t.Parallel()
	d := readDashboard(t)
	if d.SchemaVersion < 36 || d.Title == "" || d.UID == "" {
		t.Errorf("schemaVersion %d, title %q, uid %q; want a recent schema, a title and a uid", d.SchemaVersion, d.Title, d.UID)
	}
	i := slices.IndexFunc(d.Templating.List, func(v struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Query string `json:"query"`
	}) bool {
		return v.Name == "datasource"
	})
	if i < 0 || d.Templating.List[i].Type != "datasource" || d.Templating.List[i].Query != "prometheus" {
		t.Errorf("no Prometheus data source variable named datasource in %+v", d.Templating.List)
	}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel %q: ID %d is taken", p.Title, p.ID)
			}
			ids[p.ID] = true
			if p.Type != "row" {
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" || p.Datasource.Type != "prometheus" {
					t.Errorf("panel %q: data source %+v, want prometheus ${datasource}", p.Title, p.Datasource)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
}

// TestMetricNames checks that the dashboard and the alerts name only
// metrics that Carcosa exposes, and that the
// dashboard shows every one of them.
func TestMetricNames(t *testing.T) {
	t.Parallel()
	names := exposed(t)
	d := readDashboard(t)
	shown := map[string]bool{}
	for title, exprs := range d.exprs() {
		for _, e := range exprs {
			for _, n := range carcosaName.FindAllString(e, -1) {
				shown[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] = true
				if !names[n] {
					t.Errorf("dashboard panel %q: %s is not a metric of Carcosa's, in %s", title, n, e)
				}
			}
		}
	}
	for n := range names {
		if strings.HasPrefix(n, "carcosa_") && !strings.HasSuffix(n, "_bucket") && !strings.HasSuffix(n, "_sum") && !strings.HasSuffix(n, "_count") && !shown[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
	rules, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range carcosaName.FindAllString(string(rules), -1) {
		if !names[n] {
			t.Errorf("%s names %s, not a metric of Carcosa's", alertsFile, n)
		}
	}
}

// TestDashboardQueriesParse checks every query of the dashboard with
// Prometheus's own parser, through promtool: each becomes a recording rule
// of a rules file that promtool checks. Grafana's $__rate_interval becomes
// a duration first.
func TestDashboardQueriesParse(t *testing.T) {
	t.Parallel()
	d := readDashboard(t)
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for title, exprs := range d.exprs() {
		for _, e := range exprs {
			e = strings.ReplaceAll(e, "$__rate_interval", "5m")
			if strings.Contains(e, "$") {
				t.Errorf("panel %q: a variable other than $__rate_interval in %s", title, e)
			}
			q, _ := json.Marshal(e) // a JSON string is a YAML string
			fmt.Fprintf(&b, "      - record: dashboard:query_%d\n        expr: %s\n", n, q)
			n++
		}
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, "check", "rules", file)
}
