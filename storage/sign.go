package storage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Signer is implemented by storages that can give a client a URL to PUT an
// object straight into the bucket.
type Signer interface {
	// SignPut returns a URL valid for ttl to PUT the object key, with a
	// Content-Type header equal to contentType (bound to the signature
	// where the bucket can do that; S3 cannot). It returns an error
	// matching ErrUnsupported when the bucket cannot sign URLs.
	SignPut(ctx context.Context, key, contentType string, ttl time.Duration) (string, error)
}

// ErrUnsupported is returned for an operation the bucket does not offer.
var ErrUnsupported = errors.New("storage: not supported by this bucket")

// SignPut implements Signer. S3, GCS and Azure buckets sign URLs (given
// credentials that can sign); mem and file buckets do not.
func (b *Bucket) SignPut(ctx context.Context, key, contentType string, ttl time.Duration) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	u, err := b.b.SignedURL(ctx, key, &blob.SignedURLOptions{
		Method: http.MethodPut, ContentType: contentType, Expiry: ttl,
	})
	if gcerrors.Code(err) == gcerrors.Unimplemented && contentType != "" {
		// S3's SDK cannot bind the Content-Type to the signature; the
		// client still sends it, and the bytes are checked on completion.
		u, err = b.b.SignedURL(ctx, key, &blob.SignedURLOptions{Method: http.MethodPut, Expiry: ttl})
	}
	if gcerrors.Code(err) == gcerrors.Unimplemented {
		return "", fmt.Errorf("storage: sign %q: %w", key, ErrUnsupported)
	}
	if err != nil {
		return "", fmt.Errorf("storage: sign %q: %w", key, err)
	}
	return u, nil
}
