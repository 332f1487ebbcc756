// Package drivers holds what the cloud driver packages of storage
// (storage/s3, storage/gcs, storage/azure) register when imported, so that
// the packages that need a driver's own API (storage for Azure's writes,
// internal/blobstage for S3 multipart staging) reach it without importing
// its SDK. A program that imports no driver package links no cloud SDK.
package drivers

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	"gocloud.dev/blob"
)

// Driver is one cloud driver. Its package has also registered the URL
// scheme with blob.DefaultURLMux, by importing the gocloud.dev/blob driver.
type Driver struct {
	// Scheme is the URL scheme the driver opens, such as "s3".
	Scheme string

	// PutByUpload reports whether b is a bucket whose writes must be given
	// the whole reader (blob.Bucket.Upload) rather than fed through
	// blob.Writer.Write. Nil means never.
	PutByUpload func(b *blob.Bucket) bool

	// S3 returns the S3 API of b when b is a bucket of the S3 driver. Nil
	// for other drivers.
	S3 func(b *blob.Bucket) (S3, bool)
}

// S3 is the part of S3's own API that staging with tusd's s3store and
// clients uploading straight to S3 (compat/companion) need. Keys are the
// bucket's own, any prefix of the bucket's URL included.
type S3 interface {
	// NewStore returns tusd's s3store over bucket, keeping objects and
	// their .info under prefix and part buffers in tmpDir.
	NewStore(bucket, prefix, tmpDir string) handler.DataStore

	// AbortMultipart aborts the multipart upload uploadID of key. One
	// already completed or aborted is not an error.
	AbortMultipart(ctx context.Context, bucket, key, uploadID string) error

	// MultipartUploads returns the ids of the multipart uploads open for
	// exactly key.
	MultipartUploads(ctx context.Context, bucket, key string) ([]string, error)

	// CopyContentType sets the content type of the copy whose
	// blob.CopyOptions.BeforeCopy hook is given as; S3 copies keep the
	// source's otherwise.
	CopyContentType(as func(any) bool, contentType string)

	// CreateMultipart starts a multipart upload of key, whose object will
	// have contentType, and returns its id.
	CreateMultipart(ctx context.Context, bucket, key, contentType string) (string, error)

	// PresignPart returns a URL, valid for ttl, to PUT part n (1 to
	// 10,000) of multipart upload uploadID of key, with no other header.
	PresignPart(ctx context.Context, bucket, key, uploadID string, n int32, ttl time.Duration) (string, error)

	// Parts lists the parts of multipart upload uploadID of key received so
	// far, by number, every page of them. An upload that does not exist
	// (never did, was completed or aborted) is ErrNoSuchUpload.
	Parts(ctx context.Context, bucket, key, uploadID string) ([]Part, error)

	// CompleteMultipart completes multipart upload uploadID of key from
	// parts (numbers and ETags; sizes are not used). ErrNoSuchUpload as for
	// Parts; parts S3 refuses (unknown, out of order, too small but the
	// last) are ErrInvalidParts.
	CompleteMultipart(ctx context.Context, bucket, key, uploadID string, parts []Part) error

	// PresignPost returns an S3 POST policy, valid for ttl, for a browser
	// form upload of one object at key, of contentType, of 1 to maxSize
	// bytes: the URL to POST to (the bucket's) and the form fields to send
	// before the file, Content-Type among them.
	PresignPost(ctx context.Context, bucket, key, contentType string, maxSize int64, ttl time.Duration) (url string, fields map[string]string, err error)
}

// Part is one part of a multipart upload.
type Part struct {
	Number int32
	ETag   string // as S3 gives it, quoted
	Size   int64
}

// The errors of S3's multipart API that callers act on.
var (
	ErrNoSuchUpload = errors.New("drivers: no such multipart upload")
	ErrInvalidParts = errors.New("drivers: invalid parts")
)

var (
	mu      sync.RWMutex
	drivers = map[string]Driver{}
)

// Register adds d. Driver packages call it from init.
func Register(d Driver) {
	mu.Lock()
	defer mu.Unlock()
	drivers[d.Scheme] = d
}

// Registered reports whether a driver for scheme has been registered.
func Registered(scheme string) bool {
	mu.RLock()
	defer mu.RUnlock()
	_, ok := drivers[scheme]
	return ok
}

// PutByUpload reports whether a registered driver says b's writes must go
// through blob.Bucket.Upload.
func PutByUpload(b *blob.Bucket) bool {
	mu.RLock()
	defer mu.RUnlock()
	for _, d := range drivers {
		if d.PutByUpload != nil && d.PutByUpload(b) {
			return true
		}
	}
	return false
}

// S3Of returns the S3 API of b, when b is a bucket of a registered S3
// driver.
func S3Of(b *blob.Bucket) (S3, bool) {
	mu.RLock()
	defer mu.RUnlock()
	for _, d := range drivers {
		if d.S3 != nil {
			if api, ok := d.S3(b); ok {
				return api, true
			}
		}
	}
	return nil, false
}
