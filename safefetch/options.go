package safefetch

import (
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

// withDefaults returns a copy of o with defaults filled in. It panics on a
// value no fetch could honour, so a misconfiguration fails at start-up.
func (o Options) withDefaults() Options {
	o.AllowedNets = slices.Clone(o.AllowedNets)
	for i, p := range o.AllowedNets {
		if !p.IsValid() {
			panic(fmt.Sprintf("safefetch: Options.AllowedNets[%d] is not a valid prefix", i))
		}
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
	for _, p := range o.AllowedPorts {
		if p < 1 || p > 65535 {
			panic(fmt.Sprintf("safefetch: Options.AllowedPorts: %d is not a TCP port", p))
		}
	}

	if len(o.Schemes) == 0 {
		o.Schemes = []string{"http", "https"}
	} else {
		o.Schemes = slices.Clone(o.Schemes)
	}
	for i, s := range o.Schemes {
		s = strings.ToLower(s)
		if s != "http" && s != "https" {
			panic(fmt.Sprintf("safefetch: Options.Schemes: %q is not supported; use http or https", o.Schemes[i]))
		}
		o.Schemes[i] = s
	}

	switch {
	case o.MaxRedirects == 0:
		o.MaxRedirects = defaultMaxRedirects
	case o.MaxRedirects < 0:
		o.MaxRedirects = 0
	}
	if o.MaxBytes < 0 {
		panic("safefetch: Options.MaxBytes is negative")
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = defaultMaxBytes
	}
	if o.Timeout < 0 {
		panic("safefetch: Options.Timeout is negative")
	}
	if o.Timeout == 0 {
		o.Timeout = defaultTimeout
	}
	return o
}
