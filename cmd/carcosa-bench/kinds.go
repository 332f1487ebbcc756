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
}

// serveOptions configures a server process.
type serveOptions struct {
	Dir         string // the data directory, fresh for each run
	MaxFileSize int64  // the largest upload the bench sends
	Clamd       string // clamd address, for kinds that scan
	S3          string // S3 endpoint, for the kinds on S3
}

// kinds lists the server kinds. A kind that scans with clamd will be one
// more entry here, using serveOptions.Clamd, and selected by benchKinds
// when -clamd is given.
var kinds = []serverKind{
	{Name: "tusd", TusPath: "/files/", Handler: tusdHandler},
	{Name: "carcosa", Ref: "tusd", TusPath: "/tus/", WantState: "ready", Handler: carcosaHandler},
	{Name: "tusd-s3", TusPath: "/files/", Handler: tusdS3Handler},
	{Name: "carcosa-s3", Ref: "tusd-s3", TusPath: "/tus/", WantState: "ready", Handler: carcosaS3Handler},
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
	carcosa.Handle(r, benchRoute, carcosa.Route[struct{}, struct{}]{
		Accept:      []string{"any"},
		MaxFileSize: max(8<<30, o.MaxFileSize),
		Middleware: func(ctx context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[struct{}], error) {
			return carcosa.Grant[struct{}]{Owner: "bench"}, nil
		},
	})
}
