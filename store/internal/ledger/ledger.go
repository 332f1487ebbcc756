// Package ledger holds what the Stores share to implement store.Quotas,
// store.Keys and store.AuditLog: argument checks, the limit check and the
// encodings of the SQL stores.
package ledger

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/carcosa-dev/carcosa/store"
)

// CheckReserve validates Reserve's arguments. A scope named twice is
// refused: counting a file twice against one scope is never meant.
func CheckReserve(id string, size int64, checks []store.QuotaCheck) error {
	if id == "" {
		return errors.New("empty upload ID")
	}
	if size < 0 {
		return errors.New("negative size")
	}
	seen := make(map[string]bool, len(checks))
	for _, c := range checks {
		if !c.Scope.Valid() {
			return fmt.Errorf("invalid scope %s", c.Scope)
		}
		if err := CheckLimits(c.Limits); err != nil {
			return err
		}
		k := c.Scope.String()
		if seen[k] {
			return fmt.Errorf("scope %s named twice", c.Scope)
		}
		seen[k] = true
	}
	return nil
}

// CheckLimits refuses negative limits.
func CheckLimits(l store.QuotaLimits) error {
	if l.Bytes < 0 || l.Files < 0 {
		return errors.New("negative limit")
	}
	return nil
}

// Scopes returns the keys (QuotaScope.String) of checks' scopes, sorted:
// the order in which SQL stores lock them, so that concurrent reservations
// never wait for each other in a cycle.
func Scopes(checks []store.QuotaCheck) []string {
	keys := make([]string, len(checks))
	for i, c := range checks {
		keys[i] = c.Scope.String()
	}
	slices.Sort(keys)
	return keys
}

// Exceeded returns the error for the first of checks, in their order, that
// one more file of size bytes would take over its limits, or nil. used and
// stored hold the scopes' usage and stored limits by key; a missing entry is
// zero usage, or no stored limits.
func Exceeded(checks []store.QuotaCheck, size int64, used map[string]store.QuotaUsage, stored map[string]store.QuotaLimits) error {
	for _, c := range checks {
		k := c.Scope.String()
		lim := c.Limits
		if l, ok := stored[k]; ok {
			lim = l
		}
		u := used[k]
		if lim.Bytes > 0 && u.Bytes+size > lim.Bytes || lim.Files > 0 && u.Files+1 > lim.Files {
			return &store.QuotaExceededError{Scope: c.Scope, Limits: lim, Used: u}
		}
	}
	return nil
}

// Limit checks a page size as store.Query.Check does, and fills in the
// default.
func Limit(n int) (int, error) {
	switch {
	case n == 0:
		return store.DefaultLimit, nil
	case n < 0 || n > store.MaxLimit:
		return 0, errors.New("limit out of range")
	}
	return n, nil
}

// NewID returns a random audit event ID: 16 bytes, in hex.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// CheckDetail refuses a Detail that is not JSON; nil is no detail.
func CheckDetail(d json.RawMessage) error {
	if d != nil && !json.Valid(d) {
		return errors.New("detail is not valid JSON")
	}
	return nil
}

// EncodeRoutes is the text form of APIKey.Routes that SQL stores keep: a
// JSON array, or "" for none (every route).
func EncodeRoutes(r []string) string {
	if len(r) == 0 {
		return ""
	}
	b, _ := json.Marshal(r) // strings always encode
	return string(b)
}

// DecodeRoutes reads what EncodeRoutes wrote.
func DecodeRoutes(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var r []string
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, errors.New("routes: " + err.Error())
	}
	return r, nil
}

// EncodeStrings is the text form of a list of strings that SQL stores
// keep, such as WebhookEndpoint.Secrets and Types: a JSON array, or "" for
// none. An empty list reads back as nil.
func EncodeStrings(l []string) string { return EncodeRoutes(l) }

// DecodeStrings reads what EncodeStrings wrote.
func DecodeStrings(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, errors.New("string list: " + err.Error())
	}
	return l, nil
}
