// Package s3 adds Amazon S3 and S3-compatible services (MinIO, Cloudflare
// R2, …) to storage.Open, for s3:// URLs, when imported:
//
//	import _ "github.com/carcosa-dev/carcosa/storage/s3"
//
// It registers gocloud.dev/blob/s3blob, and lets a staging bucket on S3 keep
// resumable uploads as S3 multipart uploads (tusd's s3store). Programs that
// do not import it do not link the AWS SDK.
package s3

import (
	"context"
	"errors"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/s3store"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/s3blob" // registers s3:// with blob.OpenBucket

	"github.com/carcosa-dev/carcosa/internal/drivers"
)

func init() {
	drivers.Register(drivers.Driver{
		Scheme: "s3",
		S3: func(b *blob.Bucket) (drivers.S3, bool) {
			var c *awss3.Client
			if !b.As(&c) {
				return nil, false
			}
			return api{c}, true
		},
	})
}

// api is S3's own API over the client of a bucket of the S3 driver.
type api struct{ c *awss3.Client }

func (a api) NewStore(bucket, prefix, tmpDir string) handler.DataStore {
	st := s3store.New(bucket, a.c)
	st.ObjectPrefix = prefix
	st.MetadataObjectPrefix = prefix
	st.TemporaryDirectory = tmpDir
	return st
}

func (a api) AbortMultipart(ctx context.Context, bucket, key, uploadID string) error {
	_, err := a.c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{
		Bucket: &bucket, Key: &key, UploadId: &uploadID,
	})
	if err != nil && !isNoSuchUpload(err) {
		return err
	}
	return nil
}

func (a api) MultipartUploads(ctx context.Context, bucket, key string) ([]string, error) {
	var ids []string
	in := &awss3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: &key}
	for {
		out, err := a.c.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, up := range out.Uploads {
			if up.Key != nil && *up.Key == key && up.UploadId != nil {
				ids = append(ids, *up.UploadId)
			}
		}
		if out.IsTruncated == nil || !*out.IsTruncated {
			return ids, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

func (a api) CopyContentType(as func(any) bool, contentType string) {
	var in *awss3.CopyObjectInput
	if as(&in) {
		in.ContentType = &contentType
		in.MetadataDirective = s3types.MetadataDirectiveReplace
	}
}

func isNoSuchUpload(err error) bool {
	var nsu *s3types.NoSuchUpload
	if errors.As(err, &nsu) {
		return true
	}
	var api interface{ ErrorCode() string }
	return errors.As(err, &api) && api.ErrorCode() == "NoSuchUpload"
}
