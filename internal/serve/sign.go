package serve

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/carcosa-dev/carcosa/internal/apierr"
	"github.com/carcosa-dev/carcosa/internal/imaging"
	"github.com/carcosa-dev/carcosa/store"
	"github.com/carcosa-dev/carcosa/transform"
)

// FileURL is where a client fetches a ready file: plain for public routes,
// signed and expiring for the others.
func (f *Files) FileURL(u *store.Upload) string {
	if u.State != store.Ready {
		return ""
	}
	return f.KeyURL(u)
}

// KeyURL is the URL of upload u's stored file, whatever its state: the
// completion callback gets it before the upload is marked ready.
func (f *Files) KeyURL(u *store.Upload) string {
	if u.Key == "" {
		return ""
	}
	p := f.filePath(u.Key)
	if pol, ok := f.o.Policy(u.Route); ok && pol.Public {
		return p
	}
	return f.SignURL(u.Key, f.o.SignedURLTTL)
}

// DerivativeURLs are the URLs of upload u's derivatives.
func (f *Files) DerivativeURLs(u *store.Upload) map[string]string {
	if len(u.Derivatives) == 0 {
		return nil
	}
	base := f.KeyURL(u)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	out := make(map[string]string, len(u.Derivatives))
	for name := range u.Derivatives {
		out[name] = base + sep + "d=" + url.QueryEscape(name)
	}
	return out
}

// filePath is the path GET B/files/{key} serves key at.
func (f *Files) filePath(key string) string {
	return strings.TrimSuffix(f.o.BasePath, "/") + "/files/" + key
}

// SignURL returns a URL path for the file at key that stays valid for ttl.
func (f *Files) SignURL(key string, ttl time.Duration) string {
	exp := time.Now().Add(ttl).Unix()
	return f.filePath(key) + "?exp=" + strconv.FormatInt(exp, 10) + "&sig=" + f.signature(key, exp)
}

func (f *Files) signature(key string, exp int64) string {
	m := hmac.New(sha256.New, f.o.Key)
	m.Write([]byte("carcosa/files\x00"))
	m.Write([]byte(key))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verifySignature checks the exp and sig parameters of a file URL.
func (f *Files) verifySignature(key string, q url.Values, now time.Time) error {
	expStr, sig := q.Get("exp"), q.Get("sig")
	if expStr == "" || sig == "" {
		return apierr.ErrSignature
	}
	exp, err := strconv.ParseInt(expStr, 10, 64)
	if err != nil || exp <= 0 {
		return apierr.ErrSignature
	}
	want := f.signature(key, exp)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return apierr.ErrSignature
	}
	if now.Unix() > exp {
		return apierr.ErrExpired
	}
	return nil
}

// transformKey signs on-the-fly transform parameters; it is derived from
// the URL signing key.
func (f *Files) transformKey() []byte {
	m := hmac.New(sha256.New, f.o.Key)
	m.Write([]byte("carcosa/transform"))
	return m.Sum(nil)
}

// TransformURL returns the URL of the file at key transformed by spec: the
// file's URL (signed and valid for ttl when its route is private) with the
// transform's parameters and their signature.
func (f *Files) TransformURL(ctx context.Context, key string, spec transform.Spec, ttl time.Duration) (string, error) {
	if err := spec.Validate(f.o.Images.Limits()); err != nil {
		return "", imaging.MapError(err)
	}
	rec, err := f.o.Store.GetByKey(ctx, key)
	if err != nil {
		return "", apierr.API(err)
	}
	pol, ok := f.o.Policy(rec.Route)
	if !ok {
		return "", apierr.ErrUnknownRoute
	}
	base := f.filePath(key) + "?"
	if !pol.Public {
		base = f.SignURL(key, ttl) + "&"
	}
	q := url.Values{}
	if spec.Width > 0 {
		q.Set("w", fmt.Sprint(spec.Width))
	}
	if spec.Height > 0 {
		q.Set("h", fmt.Sprint(spec.Height))
	}
	if spec.Fit != "" {
		q.Set("fit", string(spec.Fit))
	}
	if spec.Format != "" {
		q.Set("fm", string(spec.Format))
	}
	if spec.Quality > 0 {
		q.Set("q", fmt.Sprint(spec.Quality))
	}
	q.Set("ts", transform.Sign(f.transformKey(), key, spec))
	return base + q.Encode(), nil
}
