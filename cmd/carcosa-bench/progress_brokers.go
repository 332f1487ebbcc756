package main

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carcosa-dev/carcosa/broker"
	"github.com/carcosa-dev/carcosa/broker/pgbroker"
	"github.com/carcosa-dev/carcosa/broker/redisbroker"
	"github.com/carcosa-dev/carcosa/internal/lifecycle"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/store/memstore"
	"github.com/carcosa-dev/carcosa/store/postgres"
)

func init() {
	brokerOpeners["postgres"] = func(ctx context.Context, cfg *config) (broker.Broker, error) {
		if cfg.postgres == "" {
			return nil, errors.New("-broker postgres needs -postgres (or CARCOSA_TEST_POSTGRES)")
		}
		return pgbroker.Open(ctx, cfg.postgres, nil)
	}
	brokerOpeners["redis"] = func(ctx context.Context, cfg *config) (broker.Broker, error) {
		if cfg.redis == "" {
			return nil, errors.New("-broker redis needs -redis (or CARCOSA_TEST_REDIS)")
		}
		return redisbroker.Open(ctx, cfg.redis, nil)
	}
	// With PostgreSQL at hand, the instances keep their records there, as
	// instances on two machines would.
	sharedStore = func(ctx context.Context, cfg *config) (store.Store, func(), error) {
		if cfg.broker != "postgres" {
			s := memstore.New()
			return s, func() { s.Close() }, nil
		}
		table := "bench_" + lifecycle.NewID()[:12]
		s, err := postgres.Open(ctx, cfg.postgres, &postgres.Options{Table: table})
		if err != nil {
			return nil, nil, err
		}
		return s, func() {
			s.Close()
			dropTables(cfg.postgres, table)
		}, nil
	}
}

// dropTables drops the bench's tables (the uploads table and those named
// after it) and forgets their schema versions.
func dropTables(dsn, table string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables
		WHERE schemaname = current_schema() AND (tablename = $1 OR starts_with(tablename, $1 || '_'))`, table)
	if err != nil {
		return
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, t := range tables {
		conn.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{t}.Sanitize()+" CASCADE")
	}
	conn.Exec(ctx, "DELETE FROM carcosa_schema_migrations WHERE starts_with(table_name, $1)", table)
}
