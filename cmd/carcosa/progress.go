package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress shows an upload's progress on w: one line redrawn in place on
// a terminal, else a plain line every plainEvery.
type progress struct {
	w    io.Writer
	name string
	tty  bool

	mu      sync.Mutex
	start   time.Time
	from    int64 // the first offset seen: what a resumed upload had
	last    time.Time
	shown   bool
	sent    int64
	total   int64
	started bool
}

const (
	ttyEvery   = 100 * time.Millisecond
	plainEvery = 5 * time.Second
)

func newProgress(w io.Writer, name string) *progress {
	return &progress{w: w, name: name, tty: isTerminal(w)}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progress) update(sent, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if !p.started {
		p.started, p.start, p.from, p.last = true, now, sent, now
	}
	p.sent, p.total = sent, total
	every := plainEvery
	if p.tty {
		every = ttyEvery
	}
	if now.Sub(p.last) < every && sent < total {
		return
	}
	p.last = now
	p.show(now)
}

func (p *progress) show(now time.Time) {
	line := fmt.Sprintf("%s  %s / %s", p.name, size(p.sent), size(p.total))
	if p.total > 0 {
		line += fmt.Sprintf("  %3d%%", p.sent*100/p.total)
	}
	if el := now.Sub(p.start).Seconds(); el > 0.2 && p.sent > p.from {
		rate := float64(p.sent-p.from) / el
		line += fmt.Sprintf("  %s/s", size(int64(rate)))
		if p.sent < p.total {
			eta := time.Duration(float64(p.total-p.sent) / rate * float64(time.Second))
			line += "  ETA " + eta.Round(time.Second).String()
		}
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
		p.shown = true
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// end ends the progress line.
func (p *progress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.shown {
		fmt.Fprintln(p.w)
	}
}
