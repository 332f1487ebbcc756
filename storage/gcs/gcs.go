// Package gcs adds Google Cloud Storage to storage.Open, for gs:// URLs,
// when imported:
//
//	import _ "github.com/carcosa-dev/carcosa/storage/gcs"
//
// It registers gocloud.dev/blob/gcsblob. Programs that do not import it do
// not link the Google Cloud client libraries.
package gcs

import (
	_ "gocloud.dev/blob/gcsblob" // registers gs:// with blob.OpenBucket

	"github.com/carcosa-dev/carcosa/internal/drivers"
)

func init() {
	drivers.Register(drivers.Driver{Scheme: "gs"})
}
