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
	"fmt"
	"net/url"
	"strings"
	"time"

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

func (a api) CreateMultipart(ctx context.Context, bucket, key, contentType string) (string, error) {
	in := &awss3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key}
	if contentType != "" {
		in.ContentType = &contentType
	}
	out, err := a.c.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", err
	}
	if out.UploadId == nil || *out.UploadId == "" {
		return "", errors.New("s3: CreateMultipartUpload gave no upload id")
	}
	return *out.UploadId, nil
}

func (a api) PresignPart(ctx context.Context, bucket, key, uploadID string, n int32, ttl time.Duration) (string, error) {
	req, err := awss3.NewPresignClient(a.c).PresignUploadPart(ctx, &awss3.UploadPartInput{
		Bucket: &bucket, Key: &key, UploadId: &uploadID, PartNumber: &n,
	}, awss3.WithPresignExpires(ttl))
	if err != nil {
		return "", err
	}
	return req.URL, nil
}

func (a api) Parts(ctx context.Context, bucket, key, uploadID string) ([]drivers.Part, error) {
	var parts []drivers.Part
	in := &awss3.ListPartsInput{Bucket: &bucket, Key: &key, UploadId: &uploadID}
	for {
		out, err := a.c.ListParts(ctx, in)
		if isNoSuchUpload(err) {
			return nil, drivers.ErrNoSuchUpload
		}
		if err != nil {
			return nil, err
		}
		for _, p := range out.Parts {
			if p.PartNumber == nil {
				continue
			}
			dp := drivers.Part{Number: *p.PartNumber}
			if p.ETag != nil {
				dp.ETag = *p.ETag
			}
			if p.Size != nil {
				dp.Size = *p.Size
			}
			parts = append(parts, dp)
		}
		if out.IsTruncated == nil || !*out.IsTruncated || out.NextPartNumberMarker == nil {
			return parts, nil
		}
		in.PartNumberMarker = out.NextPartNumberMarker
	}
}

func (a api) CompleteMultipart(ctx context.Context, bucket, key, uploadID string, parts []drivers.Part) error {
	done := make([]s3types.CompletedPart, len(parts))
	for i, p := range parts {
		done[i] = s3types.CompletedPart{PartNumber: &p.Number, ETag: &p.ETag}
	}
	_, err := a.c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
		Bucket: &bucket, Key: &key, UploadId: &uploadID,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done},
	})
	switch {
	case isNoSuchUpload(err):
		return drivers.ErrNoSuchUpload
	case isInvalidParts(err):
		return fmt.Errorf("%w: %v", drivers.ErrInvalidParts, err)
	}
	return err
}

func (a api) PresignPost(ctx context.Context, bucket, key, contentType string, maxSize int64, ttl time.Duration) (string, map[string]string, error) {
	req, err := awss3.NewPresignClient(a.c).PresignPostObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: &key},
		func(o *awss3.PresignPostOptions) {
			o.Expires = ttl
			o.Conditions = []any{
				[]any{"content-length-range", 1, maxSize},
				map[string]string{"Content-Type": contentType},
			}
		})
	if err != nil {
		return "", nil, err
	}
	u := req.URL
	if u == "" {
		// With a custom endpoint resolved the legacy way (as gocloud's
		// s3blob sets one), the SDK leaves the URL out; the bucket's URL
		// is then a presigned object URL without its key.
		if u, err = bucketURL(ctx, a.c, bucket, key); err != nil {
			return "", nil, err
		}
	}
	fields := make(map[string]string, len(req.Values)+1)
	for k, v := range req.Values {
		fields[k] = v
	}
	fields["Content-Type"] = contentType
	return u, fields, nil
}

// bucketURL is the URL of bucket, as the SDK addresses it (path-style or
// by host), found from a presigned URL of key.
func bucketURL(ctx context.Context, c *awss3.Client, bucket, key string) (string, error) {
	req, err := awss3.NewPresignClient(c).PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return "", err
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return "", err
	}
	p, ok := strings.CutSuffix(u.EscapedPath(), "/"+(&url.URL{Path: key}).EscapedPath())
	if !ok {
		return "", fmt.Errorf("s3: the presigned URL of %q does not end with its key", key)
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: p}).String(), nil
}

// isInvalidParts reports whether S3 refused a completion for its parts.
func isInvalidParts(err error) bool {
	var api interface{ ErrorCode() string }
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML":
		return true
	}
	return false
}

func isNoSuchUpload(err error) bool {
	var nsu *s3types.NoSuchUpload
	if errors.As(err, &nsu) {
		return true
	}
	var api interface{ ErrorCode() string }
	return errors.As(err, &api) && api.ErrorCode() == "NoSuchUpload"
}
