package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/tus/tusd/v2/pkg/filestore"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	xslog "golang.org/x/exp/slog"

	"github.com/carcosa-dev/carcosa"
)

// serverKind is one kind of server under test. The client side (TusPath,
// WantState) is all the bench needs to upload to it; Handler runs in the
// server process.
type serverKind struct {
	Name string

	// Ref names the kind this one is compared with, if any.
	Ref string

	// TusPath is the path of the tus creation endpoint.
	TusPath string

	// WantState, if set, is the Upload-State the response completing an
	// upload must carry for the upload to count as done.
	WantState string

	// Handler returns the kind's upload handler, keeping its data under
	// o.Dir, and a function that releases it once the server has stopped.
	Handler func(o serveOptions) (http.Handler, func() error, error)

	// Scan, set instead of Handler, makes the kind a measurement without a
	// server: it streams the file at path to the clamd at addr and returns
	// once clamd has answered that it is clean. It is timed from the call
	// to its return. Such kinds run the scenarios of one file only.
	Scan func(ctx context.Context, b *bench, addr, path string) error

	// Clamd says that the kind needs -clamd.
	Clamd bool

	// Doc describes the kind in the Markdown report.
	Doc string
}

// serveOptions configures a server process.
type serveOptions struct {
	Dir         string // the data directory, fresh for each run
	MaxFileSize int64  // the largest upload the bench sends
	Clamd       string // clamd address, for kinds that scan
	S3          string // S3 endpoint, for the kinds on S3
}

// kinds lists the server kinds.
var kinds = []serverKind{
	{Name: "tusd", TusPath: "/files/", Handler: tusdHandler,
		Doc: "tusd's handler, file store and in-memory locker; no hooks, logs discarded."},
	{Name: "carcosa", Ref: "tusd", TusPath: "/tus/", WantState: "ready", Handler: carcosaHandler,
		Doc: "a Carcosa Router on its embedded defaults (local disk, SQLite) with one route accepting any file; an upload is done when its last response says `Upload-State: ready` (verified, hashed, stored)."},
	{Name: "tusd-s3", TusPath: "/files/", Handler: tusdS3Handler,
		Doc: "tusd's handler with its `s3store` and in-memory locker."},
	{Name: "carcosa-s3", Ref: "tusd-s3", TusPath: "/tus/", WantState: "ready", Handler: carcosaS3Handler,
		Doc: "a Router whose `Storage` and `Staging` are the same S3 bucket; done at `Upload-State: ready`."},
	{Name: "clamdscan", Clamd: true, Scan: clamdscanFile,
		Doc: "ClamAV's own client, `clamdscan --stream FILE`, streaming the file to the same clamd (INSTREAM); timed from its start to its exit, which must say clean."},
	{Name: "scan-client", Ref: "clamdscan", Clamd: true, Scan: scanClientFile,
		Doc: "Carcosa's clamd client alone, `scan.Clamd.Scan` of the file (64 KiB INSTREAM chunks), in the bench's process; timed until the clean verdict."},
	{Name: "carcosa-clamd", Ref: "clamdscan", TusPath: "/tus/", WantState: "ready", Clamd: true, Handler: carcosaClamdHandler,
		Doc: "the `carcosa` kind with `Config.Scanner` a `scan.Clamd` on the same clamd, and a route that refuses what it cannot scan and scans before answering (`AsyncAbove: -1`): an upload is done at `Upload-State: ready`, i.e. received, hashed, verified, stored, then read back from storage and scanned clean."},
}

func kindByName(name string) (serverKind, bool) {
	for _, k := range kinds {
		if k.Name == name {
			return k, true
		}
	}
	return serverKind{}, false
}

func kindNames() []string {
	var names []string
	for _, k := range kinds {
		names = append(names, k.Name)
	}
	return names
}

// tusdHandler is bare tusd: its file store and an in-memory locker.
func tusdHandler(o serveOptions) (http.Handler, func() error, error) {
	composer := tusd.NewStoreComposer()
	filestore.New(o.Dir).UseIn(composer)
	memorylocker.New().UseIn(composer)
	h, err := tusd.NewHandler(tusd.Config{
		BasePath:      "/files/",
		StoreComposer: composer,
		Logger:        xslog.New(xslog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("tusd: %w", err)
	}
	return http.StripPrefix("/files/", h), func() error { return nil }, nil
}

// benchRoute is the name of Carcosa's route; the client's Upload-Metadata
// names it.
const benchRoute = "bench"

// carcosaHandler is Carcosa on its embedded defaults with one route that
// takes any file.
func carcosaHandler(o serveOptions) (http.Handler, func() error, error) {
	r, err := carcosa.New(carcosa.Config{
		DataDir:  o.Dir,
		BasePath: "/",
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, nil, err
	}
	addBenchRoute(r, o)
	return r, r.Close, nil
}

// addBenchRoute declares the one route of the bench, which takes any file.
func addBenchRoute(r *carcosa.Router, o serveOptions) {
	carcosa.Handle(r, benchRoute, newBenchRoute(o))
}

func newBenchRoute(o serveOptions) carcosa.Route[struct{}, struct{}] {
	return carcosa.Route[struct{}, struct{}]{
		Accept:      []string{"any"},
		MaxFileSize: max(8<<30, o.MaxFileSize),
		Middleware: func(ctx context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
			return carcosa.Grant[struct{}]{Owner: "bench"}, nil
		},
	}
}
