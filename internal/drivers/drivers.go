// Package drivers holds what the cloud driver packages of storage
// (storage/s3, storage/gcs, storage/azure) register when imported, so that
// the packages that need a driver's own API (storage for Azure's writes,
// internal/blobstage for S3 multipart staging) reach it without importing
// its SDK. A program that imports no driver package links no cloud SDK.
package drivers

import (
	"context"
	"sync"

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

// S3 is the part of S3's own API that staging with tusd's s3store needs.
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
}

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
