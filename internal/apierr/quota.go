package apierr

import (
	"fmt"
	"net/http"

	"github.com/carcosa-dev/carcosa/quota"
)

// QuotaLeft is the "quota" member of a quota_exceeded error: the quota the
// upload would have overrun, what it has left, and the size asked for.
type QuotaLeft struct {
	UsageScope
	Size int64 `json:"size"` // the size the upload asked for
}

// UsageScope is one quota of a caller in GET B/usage and Router.Usage: a
// byte or file count of -1 means that dimension has no limit.
type UsageScope struct {
	Scope      string `json:"scope"`           // "owner" or "tenant"
	Route      string `json:"route,omitempty"` // set for a route's own quota
	LimitBytes int64  `json:"limitBytes"`
	LimitFiles int64  `json:"limitFiles"`
	UsedBytes  int64  `json:"usedBytes"`
	UsedFiles  int64  `json:"usedFiles"`
	LeftBytes  int64  `json:"leftBytes"`
	LeftFiles  int64  `json:"leftFiles"`
}

// Quota is the client's view of a refused reservation: quota_exceeded, 413
// when the file could never fit, 429 otherwise.
func Quota(e *quota.ExceededError) *Error {
	out := ErrQuotaExceeded.Wrap(e)
	if e.Never() {
		out.Status = http.StatusRequestEntityTooLarge
		out.Message = "the file is larger than the storage quota"
	}
	out.Quota = &QuotaLeft{UsageScope: Usage(e.Scope, e.Limits, e.Used, e.Left()), Size: e.Size}
	return out
}

// Usage is one scope's quota as clients see it: -1 for no limit.
func Usage(scope quota.Scope, limits quota.Limits, used, left quota.Usage) UsageScope {
	u := UsageScope{
		Scope: scope.Kind, Route: scope.Route,
		LimitBytes: limits.Bytes, LimitFiles: limits.Files,
		UsedBytes: used.Bytes, UsedFiles: used.Files,
		LeftBytes: left.Bytes, LeftFiles: left.Files,
	}
	if u.LimitBytes == 0 {
		u.LimitBytes = -1
	}
	if u.LimitFiles == 0 {
		u.LimitFiles = -1
	}
	return u
}

// FormatSize writes n bytes in IEC units, as people read them in messages:
// "16 MiB", "1.5 GiB", "700 bytes".
func FormatSize(n int64) string {
	const units = "KMGTPE"
	if n < 1<<10 && n > -1<<10 {
		if n == 1 {
			return "1 byte"
		}
		return fmt.Sprintf("%d bytes", n)
	}
	i, div := 0, int64(1<<10)
	for n/div >= 1<<10 && i < len(units)-1 {
		div <<= 10
		i++
	}
	if n%div == 0 {
		return fmt.Sprintf("%d %ciB", n/div, units[i])
	}
	f := float64(n) / float64(div)
	if f >= 1023.95 && i < len(units)-1 { // would print as 1024.0
		f, i = f/1024, i+1
	}
	return fmt.Sprintf("%.1f %ciB", f, units[i])
}

// SizeMismatch says that a file of got bytes arrived where want were
// declared, in bytes when the units would hide the difference.
func SizeMismatch(got, want int64) string {
	g, w := FormatSize(got), FormatSize(want)
	if g == w {
		g, w = fmt.Sprintf("%d bytes", got), fmt.Sprintf("%d bytes", want)
	}
	return fmt.Sprintf("the uploaded file has %s, %s were declared", g, w)
}
