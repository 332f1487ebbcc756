// Command basic runs Carcosa with three upload routes and a web page at / to
// try them: drag files in, watch them upload (resumable, through tus) and
// open the result.
//
// On its embedded defaults it needs no other service: the files, the SQLite
// database, the resumable-upload staging area and the signing key all live
// under -data.
//
//	go run ./examples/basic -addr 127.0.0.1:8080 -data ./carcosa-data
//
// With -storage, the files go to a gocloud.dev/blob bucket instead, here an
// S3-compatible one such as MinIO (credentials from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, or any other source of the AWS SDK's default chain),
// and with -postgres the upload records go to PostgreSQL:
//
//	AWS_ACCESS_KEY_ID=minioadmin AWS_SECRET_ACCESS_KEY=minioadmin \
//	go run ./examples/basic -data ./carcosa-data \
//		-storage 's3://carcosa?endpoint=http://127.0.0.1:9000&use_path_style=true&region=us-east-1' \
//		-postgres 'postgres://carcosa:secret@127.0.0.1:5432/carcosa?sslmode=disable'
//
// A local directory works as a bucket too:
//
//	go run ./examples/basic -storage 'file:///srv/carcosa/files' -postgres 'postgres://…'
//
// Either flag may be used alone. Even with both, -data keeps the tus staging
// area (the bytes of resumable uploads until they finish) and the signing
// key. Both backends are opened, and the bucket listed, before the server
// listens: a wrong URL, a missing bucket, refused credentials or an
// unreachable database end the process at start-up with exit code 1.
package main

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/storage"
	"github.com/carcosa-dev/carcosa/store/postgres"
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

// options is what run needs; main fills it from the flags.
type options struct {
	// Addr is the address to listen on; port 0 picks a free one.
	Addr string
	// Data holds the tus staging area and the signing key, and the files
	// and the SQLite database unless Storage and Postgres say otherwise.
	Data string
	// Storage is a gocloud.dev/blob bucket URL for the files; empty means
	// the file bucket Data/files.
	Storage string
	// Staging is a bucket URL for resumable uploads in progress; empty
	// means the Storage bucket when it is not a file:// bucket, else the
	// local disk under Data.
	Staging string
	// Postgres is a PostgreSQL connection string for the upload records;
	// empty means SQLite at Data/carcosa.db.
	Postgres string
	// PostgresTable is the records' table in Postgres; empty means
	// postgres.DefaultTable.
	PostgresTable string
}

// startupTimeout bounds the opening of the bucket and the database.
const startupTimeout = 30 * time.Second

func main() {
	var o options
	flag.StringVar(&o.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	flag.StringVar(&o.Data, "data", "./carcosa-data",
		"directory for the resumable-upload (tus) staging area and the signing key, always; and for the files and the database unless -storage and -postgres are set")
	flag.StringVar(&o.Storage, "storage", "",
		"gocloud.dev/blob bucket `URL` for the files, such as file:///srv/files or s3://bucket?region=eu-west-1 (default: the file bucket under -data)")
	flag.StringVar(&o.Staging, "staging", "",
		"bucket `URL` for resumable uploads until they finish (default: the -storage bucket, unless it is a file:// bucket; then local disk under -data)")
	flag.StringVar(&o.Postgres, "postgres", "",
		"PostgreSQL connection string (`DSN`) for the upload records, such as postgres://user:pass@host:5432/db (default: SQLite under -data)")
	flag.StringVar(&o.PostgresTable, "postgres-table", postgres.DefaultTable,
		"table of the upload records in -postgres")
	clamd := flag.String("clamd", "", "clamd address for malware scanning (not yet supported)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if *clamd != "" {
		log.Warn("scanning is not available yet; -clamd is ignored")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, o, nil); err != nil {
		log.Error("exiting", "err", err)
		stop()
		os.Exit(1)
	}
}

// run opens the backends o names, serves until ctx is done, then shuts down
// gracefully and closes them. It returns an error at once, before
// listening, if a backend cannot be opened. When ready is not nil, the
// listening address is sent on it.
func run(ctx context.Context, log *slog.Logger, o options, ready chan<- string) error {
	cfg := carcosa.Config{
		BasePath: "/api/uploads",
		DataDir:  o.Data,
		Logger:   log,
	}
	// What is opened here is closed after the Router, whose Close runs
	// after the server has shut down: deferred calls run last first.
	if o.Storage != "" {
		b, err := openStorage(ctx, o.Storage)
		if err != nil {
			return err
		}
		defer func() {
			if err := b.Close(); err != nil {
				log.Warn("closing the storage", "err", err)
			}
		}()
		cfg.Storage = b
		// The URL's query and user information may hold credentials.
		if u, err := url.Parse(o.Storage); err == nil {
			log.Info("storage", "scheme", u.Scheme, "bucket", u.Host+u.Path)
			if o.Staging == "" && u.Scheme != "file" {
				cfg.Staging = b
			}
		}
	}
	if o.Staging != "" && o.Staging != o.Storage {
		b, err := openStorage(ctx, o.Staging)
		if err != nil {
			return err
		}
		defer func() {
			if err := b.Close(); err != nil {
				log.Warn("closing the staging bucket", "err", err)
			}
		}()
		cfg.Staging = b
	} else if o.Staging != "" {
		cfg.Staging = cfg.Storage.(*storage.Bucket)
	}
	if o.Postgres != "" {
		table := cmp.Or(o.PostgresTable, postgres.DefaultTable)
		s, err := openPostgres(ctx, o.Postgres, table)
		if err != nil {
			return err
		}
		defer func() {
			if err := s.Close(); err != nil {
				log.Warn("closing the PostgreSQL store", "err", err)
			}
		}()
		cfg.Store = s
		log.Info("records", "store", "postgres", "table", table)
	}

	uploads, err := carcosa.New(cfg)
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

	ln, err := net.Listen("tcp", o.Addr)
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

// openStorage opens the bucket at rawURL. storage.Open checks that the
// bucket exists and answers, so a missing bucket or refused credentials show
// now rather than at the first upload; its errors hold no credentials.
func openStorage(ctx context.Context, rawURL string) (*storage.Bucket, error) {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	b, err := storage.Open(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("-storage: %w", err)
	}
	return b, nil
}

// openPostgres opens the PostgreSQL store and brings its table up to date.
// postgres.Open's errors never hold the DSN's password.
func openPostgres(ctx context.Context, dsn, table string) (*postgres.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	s, err := postgres.Open(ctx, dsn, &postgres.Options{Table: table})
	if err != nil {
		return nil, fmt.Errorf("-postgres: %w", err)
	}
	return s, nil
}
