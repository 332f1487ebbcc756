package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/carcosa-dev/carcosa/client"
)

// Exit codes.
const (
	exitOK          = 0
	exitRefused     = 1
	exitUsage       = 2
	exitUnavailable = 3
	exitInterrupted = 4
)

const usage = `usage:
  carcosa upload -url URL -route R [-input JSON] [-token T] [-type MIME] [-chunk SIZE] [-json] FILE…
  carcosa ls     -url URL -route R [-state S] [-limit N] [-token T] [-json]
  carcosa get    -url URL [-token T] [-json] ID…
  carcosa rm     -url URL [-token T] ID…
  carcosa routes -url URL [-token T] [-json]

URL is the server's mount path (e.g. https://example.com/api/uploads);
CARCOSA_URL and CARCOSA_TOKEN stand for -url and -token.
Run "carcosa COMMAND -h" for a command's flags.
`

// usageError is a mistake in the command line: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmds := map[string]func(context.Context, *cli, []string) int{
		"upload": cmdUpload, "ls": cmdList, "get": cmdGet, "rm": cmdDelete, "routes": cmdRoutes,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		if args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		fmt.Fprintf(stderr, "carcosa: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
	c := &cli{name: args[0], stdout: stdout, stderr: stderr}
	return cmd(ctx, c, args[1:])
}

// cli is what every command shares: its flags and outputs.
type cli struct {
	name           string
	stdout, stderr io.Writer
	fs             *flag.FlagSet
	url, token     string
	headers        headerFlag
	json           bool
	retries        int
}

type headerFlag []string

func (h *headerFlag) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlag) Set(v string) error { *h = append(*h, v); return nil }

// flags makes the command's flag set with the common flags.
func (c *cli) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("carcosa "+c.name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.url, "url", os.Getenv("CARCOSA_URL"), "the server's mount path, e.g. https://example.com/api/uploads (default $CARCOSA_URL)")
	fs.StringVar(&c.token, "token", os.Getenv("CARCOSA_TOKEN"), "a bearer token (default $CARCOSA_TOKEN)")
	fs.Var(&c.headers, "H", "a header to send, `Name: value` (repeatable)")
	fs.BoolVar(&c.json, "json", false, "print records as JSON")
	fs.IntVar(&c.retries, "retries", 8, "how many times a request, or a chunk, is tried before giving up")
	c.fs = fs
	return fs
}

// parse parses args, flags and other arguments in any order, and returns
// the other arguments; a usage error has been printed when it fails.
func (c *cli) parse(args []string) ([]string, bool) {
	var rest []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return nil, false
		}
		args = c.fs.Args()
		if len(args) == 0 {
			return rest, true
		}
		if args[0] == "--" {
			return append(rest, args[1:]...), true
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

// usageErr prints a usage error and returns its exit code.
func (c *cli) usageErr(format string, a ...any) int {
	fmt.Fprintf(c.stderr, "carcosa %s: %s\n", c.name, fmt.Sprintf(format, a...))
	fmt.Fprintf(c.stderr, "run \"carcosa %s -h\" for its flags\n", c.name)
	return exitUsage
}

// client is a Client of -url with -token and -H.
func (c *cli) client(chunk int64) (*client.Client, error) {
	if c.url == "" {
		return nil, &usageError{"no server: pass -url or set CARCOSA_URL"}
	}
	h := http.Header{}
	for _, kv := range c.headers {
		k, v, ok := strings.Cut(kv, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, &usageError{fmt.Sprintf("-H %q is not \"Name: value\"", kv)}
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if c.retries < 1 {
		return nil, &usageError{"-retries must be at least 1"}
	}
	o := &client.Options{Header: h, ChunkSize: chunk, Retry: client.Retry{Attempts: c.retries}}
	if c.token != "" {
		tok := c.token
		o.Token = func(context.Context) (string, error) { return tok, nil }
	}
	cl, err := client.New(c.url, o)
	if err != nil {
		return nil, &usageError{strings.TrimPrefix(err.Error(), "client: ")}
	}
	return cl, nil
}

// fail prints err, about subject when not empty, and returns its exit
// code: what a shell user needs to act on it.
func (c *cli) fail(ctx context.Context, subject string, err error) int {
	prefix := "carcosa: "
	if subject != "" {
		prefix += subject + ": "
	}
	var ue *usageError
	var e *client.Error
	switch {
	case errors.As(err, &ue):
		return c.usageErr("%s", ue.msg)
	case ctx.Err() != nil:
		fmt.Fprintf(c.stderr, "%sinterrupted\n", prefix)
		return exitInterrupted
	case errors.As(err, &e):
		msg := e.Message
		if e.Code != "" {
			msg = e.Code + ": " + msg
		}
		if e.Status != 0 {
			msg += fmt.Sprintf(" (HTTP %d)", e.Status)
		}
		for _, f := range e.Fields {
			msg += fmt.Sprintf("\n  input field %s: rule %s", f.Field, f.Rule)
			if f.Param != "" {
				msg += " " + f.Param
			}
		}
		if h := hint(e); h != "" {
			msg += "\n  " + h
		}
		if e.RequestID != "" {
			msg += "\n  request ID " + e.RequestID
		}
		fmt.Fprintf(c.stderr, "%s%s\n", prefix, strings.TrimRight(msg, " "))
		if e.Temporary() && !errors.Is(e, client.ErrQuotaExceeded) {
			return exitUnavailable
		}
		return exitRefused
	case errors.Is(err, client.ErrDigestMismatch):
		fmt.Fprintf(c.stderr, "%s%v\n", prefix, err)
		return exitRefused
	}
	var ne net.Error
	if errors.As(err, &ne) {
		fmt.Fprintf(c.stderr, "%scannot reach the server: %v\n", prefix, err)
		return exitUnavailable
	}
	fmt.Fprintf(c.stderr, "%s%v\n", prefix, err)
	return exitRefused
}

// hint is what a shell user may do about e.
func hint(e *client.Error) string {
	switch {
	case errors.Is(e, client.ErrUnauthorized), e.Status == http.StatusUnauthorized:
		return "pass a token with -token or CARCOSA_TOKEN"
	case errors.Is(e, client.ErrUnknownRoute):
		return "\"carcosa routes\" lists the routes"
	case errors.Is(e, client.ErrQuotaExceeded) && e.Quota != nil:
		return fmt.Sprintf("the %s quota has %s left for this %s file; \"carcosa rm\" makes room",
			e.Quota.Scope, size(e.Quota.LeftBytes), size(e.Quota.Size))
	case errors.Is(e, client.ErrRateLimited) && e.RetryAfter > 0:
		return fmt.Sprintf("try again in %v", e.RetryAfter)
	case e.Status >= 500:
		return "the server may be back soon: run the command again"
	}
	return ""
}

// printRecord prints u: a JSON line with -json, else name, ID, state and
// URL (or the error of a refused upload), separated by tabs.
func (c *cli) printRecord(u *client.Upload) {
	if c.json {
		b, _ := json.Marshal(u)
		fmt.Fprintf(c.stdout, "%s\n", b)
		return
	}
	last := u.URL
	if u.Error != nil {
		last = u.Error.Code + ": " + u.Error.Message
	}
	fmt.Fprintf(c.stdout, "%s\t%s\t%s\t%s\n", u.Name, u.ID, u.State, last)
}

func cmdList(ctx context.Context, c *cli, args []string) int {
	fs := c.flags()
	route := fs.String("route", "", "the route whose uploads to list (required)")
	state := fs.String("state", "", "only uploads in this state: uploading, processing, ready, rejected, quarantined, failed")
	limit := fs.Int("limit", 20, "the most uploads to list; 0 for all")
	rest, ok := c.parse(args)
	if !ok {
		return exitUsage
	}
	switch {
	case len(rest) > 0:
		return c.usageErr("unexpected arguments %q", rest)
	case *route == "":
		return c.usageErr("-route is required")
	case *limit < 0:
		return c.usageErr("-limit must not be negative")
	}
	cl, err := c.client(0)
	if err != nil {
		return c.fail(ctx, "", err)
	}
	var tw *tabwriter.Writer
	if !c.json {
		tw = tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tSIZE\tCREATED\tNAME")
	}
	opts := &client.ListOptions{Route: *route, State: *state}
	for n := 0; *limit == 0 || n < *limit; {
		opts.Limit = 100
		if *limit > 0 {
			opts.Limit = min(100, *limit-n)
		}
		p, err := cl.List(ctx, opts)
		if err != nil {
			if tw != nil {
				tw.Flush()
			}
			return c.fail(ctx, "", err)
		}
		for i := range p.Uploads {
			u := &p.Uploads[i]
			if c.json {
				c.printRecord(u)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.State, size(u.Size), u.CreatedAt.Local().Format(time.DateTime), u.Name)
		}
		n += len(p.Uploads)
		if p.Next == "" {
			break
		}
		opts.Cursor = p.Next
	}
	if tw != nil {
		tw.Flush()
	}
	return exitOK
}

// eachID parses args as upload IDs and calls fn with each in turn; it
// returns the worst exit code, and stops at an interruption.
func (c *cli) eachID(ctx context.Context, args []string, fn func(cl *client.Client, id string) error) int {
	c.flags()
	ids, ok := c.parse(args)
	if !ok {
		return exitUsage
	}
	if len(ids) == 0 {
		return c.usageErr("no upload ID given")
	}
	cl, err := c.client(0)
	if err != nil {
		return c.fail(ctx, "", err)
	}
	code := exitOK
	for _, id := range ids {
		if err := fn(cl, id); err != nil {
			code = max(code, c.fail(ctx, id, err))
			if code == exitInterrupted {
				return code
			}
		}
	}
	return code
}

func cmdGet(ctx context.Context, c *cli, args []string) int {
	n := 0
	return c.eachID(ctx, args, func(cl *client.Client, id string) error {
		u, err := cl.Get(ctx, id)
		if err != nil {
			return err
		}
		if c.json {
			c.printRecord(u)
			return nil
		}
		if n++; n > 1 {
			fmt.Fprintln(c.stdout)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		row := func(k, v string) {
			if v != "" {
				fmt.Fprintf(tw, "%s\t%s\n", k, v)
			}
		}
		row("id", u.ID)
		row("route", u.Route)
		row("name", u.Name)
		row("size", fmt.Sprintf("%s (%d bytes)", size(u.Size), u.Size))
		row("type", u.Type)
		row("state", u.State)
		row("sha256", u.SHA256)
		row("url", u.URL)
		row("created", u.CreatedAt.Local().Format(time.DateTime))
		row("scan", u.Scan)
		if len(u.Result) > 0 {
			row("result", string(u.Result))
		}
		if u.Error != nil {
			row("error", u.Error.Code+": "+u.Error.Message)
		}
		return tw.Flush()
	})
}

func cmdDelete(ctx context.Context, c *cli, args []string) int {
	return c.eachID(ctx, args, func(cl *client.Client, id string) error {
		if err := cl.Delete(ctx, id); err != nil {
			return err
		}
		if c.json {
			fmt.Fprintf(c.stdout, "{\"id\":%q,\"deleted\":true}\n", id)
		} else {
			fmt.Fprintf(c.stdout, "deleted %s\n", id)
		}
		return nil
	})
}

func cmdRoutes(ctx context.Context, c *cli, args []string) int {
	c.flags()
	rest, ok := c.parse(args)
	if !ok {
		return exitUsage
	}
	if len(rest) > 0 {
		return c.usageErr("unexpected arguments %q", rest)
	}
	cl, err := c.client(0)
	if err != nil {
		return c.fail(ctx, "", err)
	}
	routes, err := cl.Routes(ctx)
	if err != nil {
		return c.fail(ctx, "", err)
	}
	if c.json {
		for _, r := range routes {
			b, _ := json.Marshal(r)
			fmt.Fprintf(c.stdout, "%s\n", b)
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tACCEPT\tMAX SIZE\tFILES\tINPUT")
	for _, r := range routes {
		var in []string
		for _, f := range r.Input {
			s := f.Name + " " + f.Type
			if f.Required {
				s += " (required)"
			}
			in = append(in, s)
		}
		files := strconv.Itoa(r.MinFiles) + "-" + strconv.Itoa(r.MaxFiles)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, strings.Join(r.Accept, ","), size(r.MaxFileSize), files, strings.Join(in, ", "))
	}
	tw.Flush()
	return exitOK
}

// size writes n bytes in IEC units: "700 B", "1.5 MiB".
func size(n int64) string {
	if n < 1024 && n > -1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	f, i := float64(n), -1
	for (f >= 1024 || f <= -1024) && i < 5 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTPE"[i])
}
