package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// serverProc is a server process started by the bench.
type serverProc struct {
	kind  serverKind
	cmd   *exec.Cmd
	stdin io.WriteCloser
	base  string // http://host:port
	done  chan error
	debug *http.Client
}

// startServer re-executes this binary as "serve" for kind k and waits for
// the address it listens on.
func startServer(ctx context.Context, k serverKind, o serveOptions, cpuprofile string, stderr io.Writer) (*serverProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "-kind", k.Name, "-dir", o.Dir, "-addr", "127.0.0.1:0",
		"-max-size", strconv.FormatInt(o.MaxFileSize, 10)}
	if o.Clamd != "" {
		args = append(args, "-clamd", o.Clamd)
	}
	if o.S3 != "" {
		args = append(args, "-s3", o.S3)
	}
	if cpuprofile != "" {
		args = append(args, "-cpuprofile", cpuprofile)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the %s server: %w", k.Name, err)
	}
	p := &serverProc{
		kind: k, cmd: cmd, stdin: stdin, done: make(chan error, 1),
		debug: &http.Client{Timeout: time.Minute},
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			addr <- strings.TrimSpace(sc.Text())
		}
		close(addr)
		io.Copy(io.Discard, stdout)
		p.done <- cmd.Wait()
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			err := <-p.done
			return nil, fmt.Errorf("the %s server exited before listening: %v", k.Name, err)
		}
		p.base = "http://" + a
		return p, nil
	case <-time.After(2 * time.Minute):
		err = fmt.Errorf("the %s server did not start listening within 2 minutes", k.Name)
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.kill()
	return nil, err
}

func (p *serverProc) pid() int { return p.cmd.Process.Pid }

// stop closes the server's stdin, asking it to shut down, and waits for it;
// it kills it if it takes more than a minute.
func (p *serverProc) stop() error {
	p.stdin.Close()
	select {
	case err := <-p.done:
		if err != nil {
			return fmt.Errorf("the %s server: %w", p.kind.Name, err)
		}
		return nil
	case <-time.After(time.Minute):
		p.kill()
		return fmt.Errorf("the %s server did not stop within a minute; killed", p.kind.Name)
	}
}

func (p *serverProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

func (p *serverProc) post(path string) error {
	resp, err := p.debug.Post(p.base+path, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// memBaseline resets the server's heap peak and its peak RSS, and returns
// its resident set size, in bytes.
func (p *serverProc) memBaseline() (int64, error) {
	if err := p.post("/debug/mem/reset"); err != nil {
		return 0, err
	}
	// Writing 5 to clear_refs resets VmHWM to the current RSS.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.pid()), []byte("5"), 0); err != nil {
		return 0, fmt.Errorf("resetting the peak RSS: %w", err)
	}
	st, err := procStatus(p.pid())
	if err != nil {
		return 0, err
	}
	return st["VmRSS"], nil
}

// memPeaks returns the server's peak RSS and its Go heap figures since
// memBaseline.
func (p *serverProc) memPeaks() (peakRSS int64, heap memFigures, err error) {
	resp, err := p.debug.Get(p.base + "/debug/mem")
	if err != nil {
		return 0, heap, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, heap, fmt.Errorf("GET /debug/mem: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&heap); err != nil {
		return 0, heap, fmt.Errorf("GET /debug/mem: %w", err)
	}
	st, err := procStatus(p.pid())
	if err != nil {
		return 0, heap, err
	}
	return st["VmHWM"], heap, nil
}

// procStatus reads the "kB" lines of /proc/PID/status, in bytes.
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := parseKB(f)
	if _, ok := m["VmHWM"]; !ok {
		return nil, errors.New("/proc/PID/status has no VmHWM")
	}
	return m, nil
}

// parseKB reads "Name:   123 kB" lines, as in /proc/PID/status and
// /proc/meminfo, into bytes.
func parseKB(r io.Reader) map[string]int64 {
	m := make(map[string]int64)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			m[name] = n << 10
		}
	}
	return m
}
