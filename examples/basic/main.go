// Command basic runs Carcosa on its embedded defaults (local disk and SQLite,
// no other service) with three upload routes and a web page at / to try
// them: drag files in, watch them upload (resumable, through tus) and open
// the result.
//
//	go run ./examples/basic -addr 127.0.0.1:8080 -data ./carcosa-data
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/carcosa-dev/carcosa"
)

//go:embed web
var web embed.FS

// ImageInput is what the page may send with images.
type ImageInput struct {
	Caption string `json:"caption" validate:"max=200"`
}

// Meta is what the middleware hands to the callbacks.
type Meta struct {
	Client string `json:"client"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	data := flag.String("data", "./carcosa-data", "directory for files, database and staging")
	clamd := flag.String("clamd", "", "clamd address for malware scanning (not yet supported)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if *clamd != "" {
		log.Warn("scanning is not available yet; -clamd is ignored")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *addr, *data, nil); err != nil {
		log.Error("server stopped", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down gracefully. When ready is
// not nil, the listening address is sent on it.
func run(ctx context.Context, log *slog.Logger, addr, data string, ready chan<- string) error {
	uploads, err := carcosa.New(carcosa.Config{
		BasePath: "/api/uploads",
		DataDir:  data,
		Logger:   log,
	})
	if err != nil {
		return err
	}
	defer uploads.Close()

	anyone := func(ctx context.Context, req *carcosa.Request[struct{}]) (carcosa.Grant[Meta], error) {
		return carcosa.Grant[Meta]{Metadata: Meta{Client: "web"}}, nil
	}
	logDone := func(ctx context.Context, m Meta, f carcosa.File) (any, error) {
		log.Info("file ready", "route", f.Route, "upload", f.ID, "size", f.Size, "type", f.Type)
		return map[string]any{"sha256": f.SHA256}, nil
	}
	carcosa.Handle(uploads, "images", carcosa.Route[ImageInput, Meta]{
		Accept:      []string{"image"},
		MaxFileSize: 16 << 20,
		MaxFiles:    10,
		Public:      true,
		Middleware: func(ctx context.Context, req *carcosa.Request[ImageInput]) (carcosa.Grant[Meta], error) {
			return carcosa.Grant[Meta]{Metadata: Meta{Client: "web"}}, nil
		},
		OnComplete: func(ctx context.Context, m Meta, f carcosa.File) (any, error) {
			return logDone(ctx, m, f)
		},
	})
	carcosa.Handle(uploads, "documents", carcosa.Route[struct{}, Meta]{
		Accept:      []string{"pdf", "text"},
		MaxFileSize: 64 << 20,
		MaxFiles:    10,
		Middleware:  anyone,
		OnComplete:  logDone,
	})
	carcosa.Handle(uploads, "files", carcosa.Route[struct{}, Meta]{
		Accept:      []string{"any"},
		MaxFileSize: 2 << 30,
		MaxFiles:    10,
		Attachment:  true,
		Middleware:  anyone,
		OnComplete:  logDone,
	})

	page, err := fs.Sub(web, "web")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/uploads/", uploads)
	mux.Handle("/", http.FileServerFS(page))

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	log.Info("listening", "url", fmt.Sprintf("http://%s/", ln.Addr()))
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
