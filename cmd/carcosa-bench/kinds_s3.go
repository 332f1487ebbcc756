package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"github.com/tus/tusd/v2/pkg/s3store"
	xslog "golang.org/x/exp/slog"

	"github.com/carcosa-dev/carcosa"
	"github.com/carcosa-dev/carcosa/storage"
)

// The S3 kinds stage and keep uploads in a bucket of their own on the S3
// endpoint serveOptions.S3, made for the run and removed after it.

func s3Region() string {
	if r := os.Getenv("AWS_REGION"); r != "" {
		return r
	}
	return "us-east-1"
}

// s3Client is a client of endpoint, path-style as MinIO wants.
func s3Client(ctx context.Context, endpoint string) (*s3.Client, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(s3Region()))
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	}), nil
}

// runBucket makes a bucket for one run and returns its name and a function
// that empties and removes it.
func runBucket(ctx context.Context, c *s3.Client) (string, func() error, error) {
	b := make([]byte, 6)
	rand.Read(b)
	name := "carcosa-bench-" + hex.EncodeToString(b)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return "", nil, fmt.Errorf("creating bucket %s: %w", name, err)
	}
	remove := func() error {
		ctx := context.Background()
		var errs []error
		mp, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(name)})
		if err == nil {
			for _, u := range mp.Uploads {
				_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(name), Key: u.Key, UploadId: u.UploadId})
				errs = append(errs, err)
			}
		}
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(name)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				errs = append(errs, err)
				break
			}
			var ids []s3types.ObjectIdentifier
			for _, o := range page.Contents {
				ids = append(ids, s3types.ObjectIdentifier{Key: o.Key})
			}
			if len(ids) > 0 {
				_, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(name), Delete: &s3types.Delete{Objects: ids}})
				errs = append(errs, err)
			}
		}
		_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)})
		return errors.Join(append(errs, err)...)
	}
	return name, remove, nil
}

// s3RunBucket connects to the S3 endpoint and makes a bucket for one run
// (see runBucket).
func s3RunBucket(ctx context.Context, endpoint string) (*s3.Client, string, func() error, error) {
	c, err := s3Client(ctx, endpoint)
	if err != nil {
		return nil, "", nil, err
	}
	name, remove, err := runBucket(ctx, c)
	if err != nil {
		return nil, "", nil, err
	}
	return c, name, remove, nil
}

// tusdS3Handler is bare tusd on S3: its s3store and an in-memory locker.
func tusdS3Handler(o serveOptions) (http.Handler, func() error, error) {
	ctx := context.Background()
	c, name, remove, err := s3RunBucket(ctx, o.S3)
	if err != nil {
		return nil, nil, err
	}
	composer := tusd.NewStoreComposer()
	store := s3store.New(name, c)
	store.TemporaryDirectory = o.Dir
	store.UseIn(composer)
	memorylocker.New().UseIn(composer)
	h, err := tusd.NewHandler(tusd.Config{
		BasePath:      "/files/",
		StoreComposer: composer,
		Logger:        xslog.New(xslog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		remove()
		return nil, nil, fmt.Errorf("tusd: %w", err)
	}
	return http.StripPrefix("/files/", h), remove, nil
}

// carcosaS3Handler is Carcosa with its files and its staging in one S3
// bucket (resumable uploads go through tusd's s3store), records in SQLite.
func carcosaS3Handler(o serveOptions) (http.Handler, func() error, error) {
	ctx := context.Background()
	_, name, remove, err := s3RunBucket(ctx, o.S3)
	if err != nil {
		return nil, nil, err
	}
	q := url.Values{"endpoint": {o.S3}, "use_path_style": {"true"}, "region": {s3Region()}}
	b, err := storage.Open(ctx, "s3://"+name+"?"+q.Encode())
	if err != nil {
		remove()
		return nil, nil, err
	}
	r, err := carcosa.New(carcosa.Config{
		DataDir:  o.Dir,
		BasePath: "/",
		Storage:  b,
		Staging:  b,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Close()
		remove()
		return nil, nil, err
	}
	addBenchRoute(r, o)
	return r, func() error { return errors.Join(r.Close(), b.Close(), remove()) }, nil
}
