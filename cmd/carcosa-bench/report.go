package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// median returns the median of xs (the mean of the two middle values when
// there is an even number of them), or NaN when xs is empty.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// percentile returns the p-th percentile of xs by the nearest-rank method:
// the smallest value at or above which lie p percent of the values. It is
// NaN when xs is empty.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// table is the report: one row per (scenario, figure), one column per kind,
// then the ratio of each kind to its reference (Carcosa to tusd).
type table struct {
	header []string
	rows   [][]string
}

func buildTable(b *bench) table {
	var t table
	t.header = []string{"scenario", "figure"}
	has := map[string]bool{}
	for _, k := range b.kinds {
		t.header = append(t.header, k.Name)
		has[k.Name] = true
	}
	var ratios []serverKind // the kinds whose reference runs too
	for _, k := range b.kinds {
		if k.Ref != "" && has[k.Ref] {
			ratios = append(ratios, k)
			t.header = append(t.header, k.Name+"/"+k.Ref)
		}
	}
	if len(ratios) > 0 {
		t.header = append(t.header, "better")
	}
	for _, s := range b.scenarios {
		for _, f := range s.figures {
			row := []string{s.name, f.label}
			for _, k := range b.kinds {
				row = append(row, formatFloat(b.median(s.name, k.Name, f.key), f.digits))
			}
			for _, k := range ratios {
				row = append(row, formatFloat(b.median(s.name, k.Name, f.key)/b.median(s.name, k.Ref, f.key), 2))
			}
			if len(ratios) > 0 {
				row = append(row, betterWord(f))
			}
			t.rows = append(t.rows, row)
		}
	}
	return t
}

func (b *bench) median(scenario, kind, key string) float64 {
	return median(b.results[scenario][kind][key])
}

func betterWord(f figure) string {
	if f.higher {
		return "higher"
	}
	return "lower"
}

func formatFloat(v float64, digits int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.*f", digits, v)
}

func (t table) writeText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func (t table) writeMarkdown(w io.Writer) {
	fmt.Fprintln(w, "| "+strings.Join(t.header, " | ")+" |")
	align := make([]string, len(t.header))
	for i := range align {
		align[i] = "---:"
		if i < 2 || t.header[i] == "better" {
			align[i] = "---"
		}
	}
	fmt.Fprintln(w, "|"+strings.Join(align, "|")+"|")
	for _, r := range t.rows {
		fmt.Fprintln(w, "| "+strings.Join(r, " | ")+" |")
	}
}

// writeMarkdown writes the report to path, with the machine it ran on.
func writeMarkdown(path string, b *bench, t table, took time.Duration) error {
	var sb strings.Builder
	w := &sb
	cfg := b.cfg
	info := describeSystem(b.root)
	fmt.Fprintln(w, "# Carcosa benchmarks")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Carcosa's tus intake against bare tusd, on loopback, measured by `cmd/carcosa-bench`.")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- Date: %s (the run took %s)\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), took.Round(time.Second))
	fmt.Fprintf(w, "- Command: `%s`\n", commandLine(cfg.args))
	fmt.Fprintf(w, "- Go: %s %s/%s; %s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, info.tusd)
	fmt.Fprintf(w, "- CPU: %s, %d cores (runtime.NumCPU)\n", info.cpu, runtime.NumCPU())
	fmt.Fprintf(w, "- RAM: %s\n", info.ram)
	fmt.Fprintf(w, "- Kernel: %s\n", info.kernel)
	fmt.Fprintf(w, "- Data directory: %s\n", info.disk)
	fmt.Fprintf(w, "- Repetitions: %d per kind and scenario, the order of the kinds reversed every other repetition; a new server process and data directory for each run\n", cfg.reps)
	fmt.Fprintf(w, "- Sizes: single and chunked %s (chunked in PATCHes of %s); concurrent %d × %s; large %s (%s)\n",
		formatSize(cfg.size), formatSize(cfg.chunk), cfg.concurrent, formatSize(cfg.concurrentSize),
		formatSize(cfg.large), largeChunking(cfg))
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Every figure is the median over the repetitions (%d). ", cfg.reps)
	fmt.Fprintln(w, "A ratio column (A/B) divides A's figure by B's; the \"better\" column says which way is better.")
	fmt.Fprintln(w)
	t.writeMarkdown(w)
	fmt.Fprintln(w)
	for _, k := range b.kinds {
		fmt.Fprintf(w, "- **%s**: %s\n", k.Name, k.Doc)
	}
	fmt.Fprintln(w, "- **MB/s to ready**: size in 10^6 bytes over the time from the POST to the last PATCH's response. **aggregate MB/s**: all bytes of the concurrent uploads over the wall time.")
	fmt.Fprintln(w, "- **p50 / p99 ms to ready**: nearest-rank percentiles of the concurrent uploads' times to ready.")
	fmt.Fprintln(w, "- **peak RSS**: the server process's VmHWM during the scenario (reset before it through `/proc/PID/clear_refs`); **RSS added**: that peak minus the RSS just before; **peak Go heap**: the largest HeapInuse sampled every 50 ms.")
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}

func largeChunking(cfg *config) string {
	if cfg.largeChunk == 0 {
		return "one PATCH"
	}
	return "PATCHes of " + formatSize(cfg.largeChunk)
}

// commandLine is the command as run, with the program's base name.
func commandLine(args []string) string {
	parts := []string{filepath.Base(os.Args[0])}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=,:+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
