package safefetch

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Options configure a [Client]. The zero value refuses every special-purpose
// address and allows http and https on ports 80 and 443.
type Options struct {
	// AllowedNets are exceptions to the refused address ranges, such as
	// 127.0.0.1/32 in tests or an internal mirror's network. IPv4-mapped
	// IPv6 prefixes are treated as the IPv4 prefixes they map. Defaults to
	// none.
	AllowedNets []netip.Prefix

	// AllowedPorts are the ports that may be connected to, whether named in
	// the URL or implied by its scheme. Defaults to 80 and 443.
	AllowedPorts []int

	// Schemes are the URL schemes that may be fetched; only "http" and
	// "https" are supported. Defaults to both.
	Schemes []string

	// MaxRedirects is how many redirects are followed; a negative value
	// follows none. Defaults to 5.
	MaxRedirects int

	// MaxBytes caps the response body. Defaults to 100 MiB.
	MaxBytes int64

	// Timeout caps the whole fetch: connecting, redirects, and reading the
	// body to its end. Defaults to 60 seconds.
	Timeout time.Duration

	// UserAgent is sent with every request. Defaults to Go's.
	UserAgent string
}

const (
	defaultMaxRedirects = 5
	defaultMaxBytes     = 100 << 20
	defaultTimeout      = 60 * time.Second
)

// Validate reports a value of o that no fetch could honour: a port outside
// 1-65535, an invalid prefix, a scheme other than http and https, or a
// negative MaxBytes or Timeout. New panics on such options; a program that
// takes them from its configuration checks them first.
func (o Options) Validate() error {
	for i, p := range o.AllowedNets {
		if !p.IsValid() {
			return fmt.Errorf("safefetch: Options.AllowedNets[%d] is not a valid prefix", i)
		}
	}
	for _, p := range o.AllowedPorts {
		if p < 1 || p > 65535 {
			return fmt.Errorf("safefetch: Options.AllowedPorts: %d is not a TCP port", p)
		}
	}
	for _, s := range o.Schemes {
		if l := strings.ToLower(s); l != "http" && l != "https" {
			return fmt.Errorf("safefetch: Options.Schemes: %q is not supported; use http or https", s)
		}
	}
	if o.MaxBytes < 0 {
		return errors.New("safefetch: Options.MaxBytes must not be negative")
	}
	if o.Timeout < 0 {
		return errors.New("safefetch: Options.Timeout must not be negative")
	}
	return nil
}

// withDefaults returns a copy of o with defaults filled in. It panics on a
// value no fetch could honour (see Validate), so a misconfiguration fails
// at start-up.
func (o Options) withDefaults() Options {
	if err := o.Validate(); err != nil {
		panic(err.Error())
	}
	o.AllowedNets = slices.Clone(o.AllowedNets)
	for i, p := range o.AllowedNets {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		o.AllowedNets[i] = p.Masked()
	}

	if len(o.AllowedPorts) == 0 {
		o.AllowedPorts = []int{80, 443}
	} else {
		o.AllowedPorts = slices.Clone(o.AllowedPorts)
	}

	if len(o.Schemes) == 0 {
		o.Schemes = []string{"http", "https"}
	} else {
		o.Schemes = slices.Clone(o.Schemes)
	}
	for i, s := range o.Schemes {
		o.Schemes[i] = strings.ToLower(s)
	}

	switch {
	case o.MaxRedirects == 0:
		o.MaxRedirects = defaultMaxRedirects
	case o.MaxRedirects < 0:
		o.MaxRedirects = 0
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = defaultMaxBytes
	}
	if o.Timeout == 0 {
		o.Timeout = defaultTimeout
	}
	return o
}
