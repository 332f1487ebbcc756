// Package testenv switches the integration tests on and gives them the
// services .ci/run starts: PostgreSQL, Redis, an S3 endpoint (MinIO), a GCS
// emulator and Azurite.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/url"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"gocloud.dev/blob"

	_ "github.com/carcosa-dev/carcosa/storage/s3"
)

// The variables that switch the integration tests on.
const (
	Postgres = "CARCOSA_TEST_POSTGRES"     // a DSN
	S3       = "CARCOSA_TEST_S3_ENDPOINT"  // with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
	GCS      = "CARCOSA_TEST_GCS_EMULATOR" // host:port of a fake-gcs-server serving HTTP
	Azurite  = "CARCOSA_TEST_AZURITE"      // host:port of an Azurite blob service
	Redis    = "CARCOSA_TEST_REDIS"        // a redis:// URL
)

// Require returns the value of the variable name. When it is not set, the
// test skips with a message saying what to set it to (what), except under
// CI=true, where .ci/run sets it, and the test fails.
func Require(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; CI must provide it (.ci/run starts the service)", name)
		}
		t.Skipf("set %s to %s to run this test", name, what)
	}
	return v
}

// S3Endpoint is Require for the S3 endpoint.
func S3Endpoint(t testing.TB) string {
	t.Helper()
	return Require(t, S3, "an S3 endpoint, e.g. http://127.0.0.1:9000 (a MinIO), with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY its credentials")
}

// S3URL is the URL of bucket name at endpoint, path-style as MinIO needs,
// with the extra parameters of query.
func S3URL(endpoint, name, query string) string {
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	q := url.Values{}
	q.Set("endpoint", endpoint)
	q.Set("use_path_style", "true")
	q.Set("region", region)
	u := "s3://" + name + "?" + q.Encode()
	if query != "" {
		u += "&" + query
	}
	return u
}

// BucketName returns a new random bucket name.
func BucketName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "carcosa-test-" + hex.EncodeToString(b)
}

// TempS3Bucket creates a bucket of a new name at endpoint, and empties and
// removes it when the test ends; a multipart upload left in it fails the
// test.
func TempS3Bucket(t testing.TB, endpoint string) string {
	t.Helper()
	name := BucketName()
	bb, err := blob.OpenBucket(t.Context(), S3URL(endpoint, name, ""))
	if err != nil {
		t.Fatal(err)
	}
	var client *s3.Client
	if !bb.As(&client) {
		bb.Close()
		t.Fatal("the s3 bucket gives no *s3.Client")
	}
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		bb.Close()
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer bb.Close()
		ctx := context.Background()
		it := bb.List(nil)
		for {
			obj, err := it.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Errorf("listing bucket %s: %v", name, err)
				return
			}
			if err := bb.Delete(ctx, obj.Key); err != nil {
				t.Errorf("emptying bucket %s: %v", name, err)
			}
		}
		// Failed and cancelled Puts abort their multipart uploads; any
		// left would keep the bucket from being removed on some services.
		if ups, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &name}); err == nil {
			for _, up := range ups.Uploads {
				t.Errorf("multipart upload of %q left behind", *up.Key)
				_, _ = client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &name, Key: up.Key, UploadId: up.UploadId})
			}
		}
		if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &name}); err != nil {
			t.Errorf("removing bucket %s: %v", name, err)
		}
	})
	return name
}

// DropPostgresTables drops the tables of a Store whose table is name in
// the search path's first schema (name itself, and the tables named
// name_… that keep its quotas, keys and audit log) and forgets their
// schema versions.
func DropPostgresTables(ctx context.Context, dsn, name string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables
		WHERE schemaname = current_schema() AND (tablename = $1 OR starts_with(tablename, $1 || '_'))`, name)
	if err != nil {
		return err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, t := range tables {
		if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{t}.Sanitize()+" CASCADE"); err != nil {
			return err
		}
	}
	if len(tables) == 0 {
		return nil
	}
	_, err = conn.Exec(ctx, "DELETE FROM carcosa_schema_migrations WHERE starts_with(table_name, $1)", name)
	return err
}
