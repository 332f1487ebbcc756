package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // image.DecodeConfig of the thumbnails
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// -thumbs measures thumbnailing: Carcosa's engines (the pure-Go one, and
// libvips' when built with cgo) beside libvips' vipsthumbnail, on the same
// generated JPEGs, each in a process of its own so that all are measured
// the same way, from outside.
//
// A child's peak RSS is its VmHWM, read from /proc/PID/status when it
// stops at its exit under ptrace (PTRACE_O_TRACEEXIT), before its memory
// is released. The Maxrss of the rusage of a child started by exec.Cmd
// would not do: Go starts children with vfork, and Linux then counts the
// parent's peak RSS in the child's Maxrss (exec records the peak of the
// memory it replaces, which is the parent's), so that /bin/true started by
// the bench, whose binary alone takes about 40 MiB, reads 40 MiB. The log
// shows the traced child's Maxrss beside its VmHWM.

// thumbsKind is one way of making the thumbnails.
type thumbsKind struct {
	Name string
	Doc  string
	run  func(t *thumbsRun, ctx context.Context, out string) (childUsage, error) // a method of thumbsRun
}

var thumbsKinds = []thumbsKind{
	{Name: "carcosa", run: carcosaKind("go"),
		Doc: "this binary re-executed as `thumbs-worker -engine go`: the pure-Go engine (`transform.New(Limits{})`), `Image` of each file in turn (`Spec{Width: 256, Height: 256, Fit: Cover, Format: JPEG}`, default `Limits`), written to a file; Go's `image/jpeg` decodes the full 12 MP."},
	{Name: "vipsthumbnail", run: (*thumbsRun).runVips,
		Doc: "one `vipsthumbnail --size 256x256 --smartcrop centre -o OUT/%s.jpg[Q=82] FILE…` over all the files (Q=82 is transform.DefaultQuality); libvips threads as it does by default (one thread per core) and shrinks JPEGs on load."},
	{Name: "vipsthumbnail-each", run: (*thumbsRun).runVipsEach,
		Doc: "the same, one `vipsthumbnail` process per file, one after another: time and CPU summed, peak RSS the largest."},
}

var (
	figThumbsPerSec = figure{"thumbsps", "thumbnails/s", true, 2}
	figThumbsSecs   = figure{"seconds", "seconds for all", false, 2}
	figCPUSecs      = figure{"cpu", "CPU seconds (user+sys)", false, 2}
	figStartRSS     = figure{"startRSS", "RSS at start MiB", false, 1}
)

var thumbsFigures = []figure{figThumbsPerSec, figThumbsSecs, figCPUSecs, figPeakRSS, figStartRSS}

// thumbsRun is one run of -thumbs.
type thumbsRun struct {
	cfg      *config
	root     string // temporary root of the sources and the thumbnails
	src      string // the directory of the sources
	vipsPath string // of vipsthumbnail

	// vipsStartRSS is the peak RSS of "vipsthumbnail --vips-version".
	vipsStartRSS int64
	files        []string
	stderr       io.Writer

	// results[kind][figure key] holds one value per repetition.
	results map[string]map[string][]float64
}

// childUsage is what a child process (or a series of them) took.
type childUsage struct {
	wall, cpu time.Duration
	peakRSS   int64 // bytes, the VmHWM at its exit
	startRSS  int64 // bytes, its RSS before the first image
	maxrss    int64 // bytes, the Maxrss of its rusage, for the log
}

func runThumbs(ctx context.Context, cfg *config, stdout, stderr io.Writer) (err error) {
	started := time.Now()
	vips, err := exec.LookPath("vipsthumbnail")
	if err != nil {
		return fmt.Errorf("-thumbs compares with vipsthumbnail, which is not in PATH (Debian: apt-get install libvips-tools): %w", err)
	}
	t := &thumbsRun{cfg: cfg, vipsPath: vips, stderr: stderr, results: make(map[string]map[string][]float64)}
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return err
	}
	if t.root, err = os.MkdirTemp(cfg.dir, "carcosa-bench-thumbs-"); err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(t.root); err == nil {
			err = rerr
		}
	}()

	t.src = filepath.Join(t.root, "src")
	if err := os.Mkdir(t.src, 0o755); err != nil {
		return err
	}
	gen := time.Now()
	if err := t.self(ctx, "thumbs-generate", "-out", t.src, "-n", strconv.Itoa(cfg.thumbs),
		"-width", strconv.Itoa(cfg.thumbsWidth), "-height", strconv.Itoa(cfg.thumbsHeight)); err != nil {
		return fmt.Errorf("generating the images: %w", err)
	}
	if t.files, err = sourceJPEGs(t.src); err != nil {
		return err
	}
	var total int64
	for _, f := range t.files {
		if fi, err := os.Stat(filepath.Join(t.src, f)); err == nil {
			total += fi.Size()
		}
	}
	t.logf("generated %d JPEGs of %d×%d at quality %d (%s, %s each on average) in %.1f s",
		len(t.files), cfg.thumbsWidth, cfg.thumbsHeight, thumbSourceQuality, mib(total), mib(total/int64(len(t.files))), time.Since(gen).Seconds())
	syscall.Sync()
	u, output, err := t.runTraced(ctx, vips, "--vips-version")
	if err != nil {
		return fmt.Errorf("vipsthumbnail --vips-version: %w: %s", err, output)
	}
	t.vipsStartRSS = u.peakRSS

	for rep := range cfg.reps {
		order := slices.Clone(thumbsKinds)
		if rep%2 == 1 {
			slices.Reverse(order)
		}
		for _, k := range order {
			if err := t.runOne(ctx, k, rep); err != nil {
				return fmt.Errorf("%s, repetition %d: %w", k.Name, rep+1, err)
			}
		}
	}

	t.writeReport(stdout, vipsVersion(ctx, vips))
	t.logf("done in %s", time.Since(started).Round(time.Second))
	return nil
}

// runOne makes the thumbnails once with kind k into a fresh directory and
// checks them.
func (t *thumbsRun) runOne(ctx context.Context, k thumbsKind, rep int) (err error) {
	out := filepath.Join(t.root, fmt.Sprintf("%s-%d", k.Name, rep+1))
	if err := os.Mkdir(out, 0o755); err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(out); err == nil {
			err = rerr
		}
	}()
	u, err := k.run(t, ctx, out)
	if err != nil {
		return err
	}
	if err := checkThumbs(out, t.files); err != nil {
		return err
	}
	vals := map[string]float64{
		"thumbsps": float64(len(t.files)) / u.wall.Seconds(),
		"seconds":  u.wall.Seconds(),
		"cpu":      u.cpu.Seconds(),
		"peakRSS":  mibf(u.peakRSS),
		"startRSS": mibf(u.startRSS),
	}
	byFig := t.results[k.Name]
	if byFig == nil {
		byFig = make(map[string][]float64)
		t.results[k.Name] = byFig
	}
	for key, v := range vals {
		byFig[key] = append(byFig[key], v)
	}
	t.logf("thumbs rep %d/%d  %-18s %.2f thumbnails/s, %.2f s, %.2f CPU s, peak RSS %.1f MiB (rusage Maxrss %.1f MiB)",
		rep+1, t.cfg.reps, k.Name, vals["thumbsps"], vals["seconds"], vals["cpu"], vals["peakRSS"], mibf(u.maxrss))
	return nil
}

// carcosaKind runs thumbs-worker with the engine named engine.
func carcosaKind(engine string) func(t *thumbsRun, ctx context.Context, out string) (childUsage, error) {
	return func(t *thumbsRun, ctx context.Context, out string) (childUsage, error) {
		return t.runCarcosa(ctx, engine, out)
	}
}

func (t *thumbsRun) runCarcosa(ctx context.Context, engine, out string) (childUsage, error) {
	exe, err := os.Executable()
	if err != nil {
		return childUsage{}, err
	}
	u, output, err := t.runTraced(ctx, exe, "thumbs-worker", "-engine", engine, "-in", t.src, "-out", out, "-parallel", strconv.Itoa(t.cfg.thumbsParallel))
	if err != nil {
		return u, fmt.Errorf("thumbs-worker: %w: %s", err, output)
	}
	for line := range strings.Lines(output) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "rss-start" {
			u.startRSS, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	if u.startRSS == 0 {
		return u, fmt.Errorf("thumbs-worker did not report its RSS at start: %s", output)
	}
	return u, nil
}

func (t *thumbsRun) runVips(ctx context.Context, out string) (childUsage, error) {
	return t.vipsthumbnail(ctx, out, t.files)
}

func (t *thumbsRun) runVipsEach(ctx context.Context, out string) (childUsage, error) {
	var sum childUsage
	for _, f := range t.files {
		u, err := t.vipsthumbnail(ctx, out, []string{f})
		if err != nil {
			return sum, err
		}
		sum.wall += u.wall
		sum.cpu += u.cpu
		sum.peakRSS = max(sum.peakRSS, u.peakRSS)
		sum.maxrss = max(sum.maxrss, u.maxrss)
		sum.startRSS = max(sum.startRSS, u.startRSS)
	}
	return sum, nil
}

// vipsthumbnail makes the thumbnails of files, in the source directory,
// into out with one vipsthumbnail process.
func (t *thumbsRun) vipsthumbnail(ctx context.Context, out string, files []string) (childUsage, error) {
	args := []string{"--size", "256x256", "--smartcrop", "centre", "-o", filepath.Join(out, "%s.jpg[Q=82]")}
	for _, f := range files {
		args = append(args, filepath.Join(t.src, f))
	}
	u, output, err := t.runTraced(ctx, t.vipsPath, args...)
	if err != nil {
		return u, fmt.Errorf("vipsthumbnail: %w: %s", err, output)
	}
	u.startRSS = t.vipsStartRSS
	return u, nil
}

// self runs this binary with args, its stderr copied to the bench's.
func (t *thumbsRun) self(ctx context.Context, args ...string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = t.stderr
	return cmd.Run()
}

// Of ptrace(2), not in package syscall.
const ptraceOExitKill = 0x100000

// runTraced runs path with args, traced, and returns its wall time, from
// its start to its exit, its CPU time, its peak RSS (its VmHWM at the stop
// of PTRACE_O_TRACEEXIT) and its output, stdout and stderr together.
func (t *thumbsRun) runTraced(ctx context.Context, path string, args ...string) (u childUsage, output string, err error) {
	log, err := os.CreateTemp(t.root, "child-*.log")
	if err != nil {
		return u, "", err
	}
	defer func() {
		b, rerr := os.ReadFile(log.Name())
		output = strings.TrimSpace(string(b))
		log.Close()
		os.Remove(log.Name())
		if err == nil {
			err = rerr
		}
	}()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return u, "", err
	}
	defer null.Close()

	// The tracer is the thread that started the child: every ptrace call
	// must come from it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	pid, err := syscall.ForkExec(path, append([]string{path}, args...), &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{null.Fd(), log.Fd(), log.Fd()},
		Sys:   &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		return u, "", err
	}
	defer context.AfterFunc(ctx, func() { syscall.Kill(pid, syscall.SIGKILL) })()
	atExec := true
	for {
		var ws syscall.WaitStatus
		var ru syscall.Rusage
		if _, err := syscall.Wait4(pid, &ws, 0, &ru); err != nil {
			if err == syscall.EINTR {
				continue
			}
			syscall.Kill(pid, syscall.SIGKILL)
			return u, "", err
		}
		if ws.Exited() || ws.Signaled() {
			u.wall = time.Since(start)
			u.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			u.maxrss = ru.Maxrss << 10 // KiB on Linux
			switch {
			case ctx.Err() != nil:
				return u, "", ctx.Err()
			case ws.Signaled():
				return u, "", fmt.Errorf("killed by %v", ws.Signal())
			case ws.ExitStatus() != 0:
				return u, "", fmt.Errorf("exit status %d", ws.ExitStatus())
			case u.peakRSS == 0:
				return u, "", errors.New("its peak RSS could not be read at its exit")
			}
			return u, "", nil
		}
		if !ws.Stopped() {
			continue
		}
		sig := ws.StopSignal()
		switch {
		case atExec && sig == syscall.SIGTRAP: // the stop after execve
			atExec, sig = false, 0
			if err := syscall.PtraceSetOptions(pid, syscall.PTRACE_O_TRACEEXIT|ptraceOExitKill); err != nil {
				syscall.Kill(pid, syscall.SIGKILL)
				return u, "", fmt.Errorf("ptrace: %w", err)
			}
		case sig == syscall.SIGTRAP && ws.TrapCause() == syscall.PTRACE_EVENT_EXIT:
			sig = 0
			if st, err := procStatus(pid); err == nil {
				u.peakRSS = st["VmHWM"]
			}
		}
		// Resume it, passing on any signal it stopped for.
		if err := syscall.PtraceCont(pid, int(sig)); err != nil && err != syscall.ESRCH {
			syscall.Kill(pid, syscall.SIGKILL)
			return u, "", fmt.Errorf("ptrace: %w", err)
		}
	}
}

// checkThumbs makes sure that out holds a 256×256 JPEG for each of files.
func checkThumbs(out string, files []string) error {
	for _, name := range files {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			return err
		}
		cfg, format, err := image.DecodeConfig(bufio.NewReader(f))
		f.Close()
		if err != nil {
			return fmt.Errorf("the thumbnail of %s: %w", name, err)
		}
		if format != "jpeg" || cfg.Width != thumbSpec.Width || cfg.Height != thumbSpec.Height {
			return fmt.Errorf("the thumbnail of %s is a %s of %d×%d, want a jpeg of %d×%d",
				name, format, cfg.Width, cfg.Height, thumbSpec.Width, thumbSpec.Height)
		}
	}
	return nil
}

func vipsVersion(ctx context.Context, vips string) string {
	out, err := exec.CommandContext(ctx, vips, "--vips-version").Output()
	if err != nil {
		return "libvips (version unknown)"
	}
	return strings.TrimSpace(string(out))
}

// writeReport writes the report as Markdown: the setting, then one row per
// figure, one column per kind, and Carcosa's ratio to vipsthumbnail.
func (t *thumbsRun) writeReport(w io.Writer, vips string) {
	cfg := t.cfg
	info := describeSystem(t.root)
	fmt.Fprintf(w, "- Command: `%s`\n", commandLine(cfg.args))
	fmt.Fprintf(w, "- Go: %s %s/%s; %s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, vips)
	fmt.Fprintf(w, "- CPU: %s, %d cores (runtime.NumCPU); RAM: %s; kernel: %s\n", info.cpu, runtime.NumCPU(), info.ram, info.kernel)
	fmt.Fprintf(w, "- Images: %d JPEGs of %d×%d at quality %d, generated once; thumbnails %d×%d cover, JPEG quality 82; carcosa %d at once\n",
		len(t.files), cfg.thumbsWidth, cfg.thumbsHeight, thumbSourceQuality, thumbSpec.Width, thumbSpec.Height, cfg.thumbsParallel)
	fmt.Fprintf(w, "- Medians over %d repetitions, the order of the kinds reversed every other one; peak RSS is the child's VmHWM at its exit, RSS at start its VmHWM before the first image (vipsthumbnail: that of `vipsthumbnail --vips-version`)\n", cfg.reps)
	fmt.Fprintln(w)

	var tab table
	tab.header = []string{"images", "figure"}
	for _, k := range thumbsKinds {
		tab.header = append(tab.header, k.Name)
	}
	var ours []string // the kinds compared with vipsthumbnail
	for _, k := range thumbsKinds {
		if strings.HasPrefix(k.Name, "carcosa") {
			ours = append(ours, k.Name)
			tab.header = append(tab.header, k.Name+"/vipsthumbnail")
		}
	}
	tab.header = append(tab.header, "better")
	images := fmt.Sprintf("%d × %d×%d", len(t.files), cfg.thumbsWidth, cfg.thumbsHeight)
	for _, f := range thumbsFigures {
		row := []string{images, f.label}
		for _, k := range thumbsKinds {
			row = append(row, formatFloat(median(t.results[k.Name][f.key]), f.digits))
		}
		for _, name := range ours {
			ratio := median(t.results[name][f.key]) / median(t.results["vipsthumbnail"][f.key])
			row = append(row, formatFloat(ratio, 2))
		}
		row = append(row, betterWord(f))
		tab.rows = append(tab.rows, row)
	}
	tab.writeMarkdown(w)
	fmt.Fprintln(w)
	for _, k := range thumbsKinds {
		fmt.Fprintf(w, "- **%s**: %s\n", k.Name, k.Doc)
	}
}

func (t *thumbsRun) logf(format string, args ...any) {
	fmt.Fprintf(t.stderr, "carcosa-bench: "+format+"\n", args...)
}
