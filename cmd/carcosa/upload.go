package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/carcosa-dev/carcosa/client"
)

func cmdUpload(ctx context.Context, c *cli, args []string) int {
	fs := c.flags()
	route := fs.String("route", "", "the upload route (required)")
	input := fs.String("input", "", "the route's input, as JSON")
	ctype := fs.String("type", "", "the files' MIME type, if known (the server judges the bytes)")
	chunkFlag := fs.String("chunk", "8MiB", "the most bytes sent in one request (KiB, MiB, GiB)")
	files, ok := c.parse(args)
	if !ok {
		return exitUsage
	}
	switch {
	case *route == "":
		return c.usageErr("-route is required")
	case len(files) == 0:
		return c.usageErr("no file given")
	case *input != "" && !json.Valid([]byte(*input)):
		return c.usageErr("-input is not JSON: %s", *input)
	}
	chunk, err := parseSize(*chunkFlag)
	if err != nil {
		return c.usageErr("-chunk: %v", err)
	}
	// Every file is there before any is sent.
	infos := make([]os.FileInfo, len(files))
	for i, f := range files {
		fi, err := os.Stat(f)
		if err == nil && !fi.Mode().IsRegular() {
			err = errors.New("not a regular file")
		}
		if err != nil {
			return c.usageErr("%s: %v", f, unwrapPath(err))
		}
		infos[i] = fi
	}
	cl, err := c.client(chunk)
	if err != nil {
		return c.fail(ctx, "", err)
	}
	opts := client.UploadOptions{ContentType: *ctype}
	if *input != "" {
		opts.Input = json.RawMessage(*input)
	}
	st := openState(c)
	code := exitOK
	for i, f := range files {
		code = max(code, c.uploadOne(ctx, cl, st, *route, f, infos[i], opts))
		if code == exitInterrupted {
			break
		}
	}
	return code
}

// uploadOne uploads file f, resuming an upload of it that was cut short.
func (c *cli) uploadOne(ctx context.Context, cl *client.Client, st *state, route, f string, fi os.FileInfo, opts client.UploadOptions) int {
	key := st.key(c.url, route, f, fi)
	opts.ResumeURL = st.load(key)
	opts.OnCreate = func(url string) { st.save(key, url) }
	p := newProgress(c.stderr, fi.Name())
	opts.OnProgress = p.update
	u, err := cl.UploadFile(ctx, route, f, &opts)
	p.end()
	if u != nil {
		c.printRecord(u)
	}
	if err == nil || u != nil {
		// Over, one way or the other: nothing to resume.
		st.forget(key)
	}
	var e *client.Error
	if errors.As(err, &e) && !e.Temporary() {
		st.forget(key) // refused: sending it again would not help
	}
	if err != nil {
		return c.fail(ctx, f, err)
	}
	return exitOK
}

// unwrapPath is a file error without the path, which the message names
// already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// parseSize parses "8MiB", "512KiB", "1GiB" (or K, M, G, KB, MB, GB, all
// binary) or a number of bytes.
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size such as 8MiB", s)
	}
	if n*mult < 64<<10 {
		return 0, fmt.Errorf("%q is less than 64KiB", s)
	}
	return n * mult, nil
}
