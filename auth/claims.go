package auth

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// maxNumericDate is the last second of year 9999: later dates are not
// believable and do not fit time arithmetic.
const maxNumericDate = 253402300799

// identity checks the claims of a token whose signature verified and
// returns who it is from.
func (j *JWT) identity(claims map[string]any) (Identity, error) {
	now, leeway := j.opts.Now(), j.opts.Leeway
	exp, ok, err := numericDate(claims, "exp")
	switch {
	case err != nil:
		return Identity{}, err
	case !ok:
		return Identity{}, fmt.Errorf("%w: exp", ErrMissingClaim)
	case !now.Before(exp.Add(leeway)):
		return Identity{}, ErrExpired
	}
	for _, name := range []string{"nbf", "iat"} {
		t, ok, err := numericDate(claims, name)
		if err != nil {
			return Identity{}, err
		}
		if ok && now.Add(leeway).Before(t) {
			return Identity{}, ErrNotYetValid
		}
	}
	if j.opts.Issuer != "" {
		if iss, _ := claims["iss"].(string); iss != j.opts.Issuer {
			return Identity{}, ErrWrongIssuer
		}
	}
	if j.opts.Audience != "" {
		aud, err := stringsClaim(claims, "aud", false)
		if err != nil {
			return Identity{}, err
		}
		if !slices.Contains(aud, j.opts.Audience) {
			return Identity{}, ErrWrongAudience
		}
	}
	sub, err := stringClaim(claims, "sub")
	if err != nil {
		return Identity{}, err
	}
	if sub == "" {
		return Identity{}, fmt.Errorf("%w: sub", ErrMissingClaim)
	}
	tenant, err := stringClaim(claims, j.opts.TenantClaim)
	if err != nil {
		return Identity{}, err
	}
	scopeClaim := j.opts.ScopeClaim
	if _, ok := claims[scopeClaim]; !ok {
		scopeClaim = "scp"
	}
	scopes, err := stringsClaim(claims, scopeClaim, true)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Subject: sub, Tenant: tenant, Scopes: scopes, Claims: claims}, nil
}

// numericDate reads a NumericDate claim (RFC 7519: seconds since the
// epoch, fractions allowed); ok is false when the claim is absent.
func numericDate(claims map[string]any, name string) (t time.Time, ok bool, err error) {
	v, present := claims[name]
	if !present {
		return time.Time{}, false, nil
	}
	f, isNumber := v.(float64)
	if !isNumber || f < 0 || f > maxNumericDate {
		return time.Time{}, false, fmt.Errorf("%w: %s is not a date", ErrMalformed, name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// stringClaim reads a claim that must be a string when present.
func stringClaim(claims map[string]any, name string) (string, error) {
	v, present := claims[name]
	if !present {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%w: %s is not a string", ErrMalformed, name)
	}
	return s, nil
}

// stringsClaim reads a claim that is an array of strings or one string:
// a single value (aud) or, with split, space-separated values (scope).
func stringsClaim(claims map[string]any, name string, split bool) ([]string, error) {
	switch v := claims[name].(type) {
	case nil:
		return nil, nil
	case string:
		if split {
			return strings.Fields(v), nil
		}
		return []string{v}, nil
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%w: %s holds a non-string", ErrMalformed, name)
			}
			out[i] = s
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: %s is neither a string nor an array", ErrMalformed, name)
	}
}
