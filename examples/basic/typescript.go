package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store/memstore"
)

//go:generate go run . -gen-ts web/carcosa-routes.ts

// routesTypeScript returns the TypeScript declarations of the example's
// routes (Router.WriteTypeScript), as declared without a scanner. It opens
// nothing outside a temporary directory, which it removes: the Router is
// only built to declare the routes on, never served.
func routesTypeScript() ([]byte, error) {
	dir, err := os.MkdirTemp("", "carcosa-gen-ts-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bucket, err := storage.Open(context.Background(), "mem://")
	if err != nil {
		return nil, err
	}
	defer bucket.Close()
	records := memstore.New()
	defer records.Close()
	uploads, err := carcosa.New(carcosa.Config{
		DataDir: dir,
		Store:   records,
		Storage: bucket,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	defer uploads.Close()
	handleRoutes(uploads, func(n int64) int64 { return n })
	var b bytes.Buffer
	if err := uploads.WriteTypeScript(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeTypeScript writes routesTypeScript to path, for -gen-ts.
func writeTypeScript(path string) error {
	ts, err := routesTypeScript()
	if err != nil {
		return err
	}
	return os.WriteFile(path, ts, 0o644)
}
