// Package azure adds Azure Blob Storage to storage.Open, for azblob:// URLs,
// when imported:
//
//	import _ "github.com/carcosa-dev/carcosa/storage/azure"
//
// It registers gocloud.dev/blob/azureblob. Programs that do not import it do
// not link the Azure SDK.
package azure

import (
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // registers azblob:// with blob.OpenBucket

	"github.com/carcosa-dev/carcosa/internal/drivers"
)

func init() {
	drivers.Register(drivers.Driver{
		Scheme: "azblob",
		// The Azure driver of gocloud.dev v0.47.0 panics in Close when an
		// upload fed through Write fails (writer.Close reads the pipe it
		// has set to nil), so storage hands it the whole reader instead.
		PutByUpload: func(b *blob.Bucket) bool {
			var c *container.Client
			return b.As(&c)
		},
	})
}
