package safefetch

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzGetURL feeds arbitrary strings to the URL check that Get runs before
// any request. It must not panic, must fail only with the package's URL
// errors, and must never accept a URL whose host is a forbidden IP literal
// or an IPv4 address written in a non-standard form.
func FuzzGetURL(f *testing.F) {
	for _, s := range []string{
		"http://example.com/",
		"https://8.8.8.8:443/x",
		"http://127.0.0.1/",
		"http://[::1]:80/",
		"http://[::ffff:169.254.169.254]/",
		"http://2130706433/",
		"http://0x7f.1/",
		"http://[fe80::1%25eth0]/",
		"file:///etc/passwd",
		"http://user:pass@example.com/",
	} {
		f.Add(s)
	}
	p := newPolicy(Options{}.withDefaults())
	sentinels := []error{ErrBadURL, ErrForbiddenAddress, ErrForbiddenScheme, ErrForbiddenPort}

	f.Fuzz(func(t *testing.T, raw string) {
		u, err := p.parseURL(raw)
		if err != nil {
			if !slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) }) {
				t.Fatalf("parseURL(%q) = %v, not a URL error", raw, err)
			}
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("accepted scheme %q in %q", u.Scheme, raw)
		}
		if u.User != nil {
			t.Fatalf("accepted user information in %q", raw)
		}
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n != 80 && n != 443 {
				t.Fatalf("accepted port %q in %q", port, raw)
			}
		}
		host := u.Hostname()
		if host == "" {
			t.Fatalf("accepted %q without a host", raw)
		}
		// An oracle independent of isPublic, built on netip's own
		// classification, for the addresses that matter most.
		if a, err := netip.ParseAddr(host); err == nil {
			a = a.Unmap()
			if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
				a.IsMulticast() || a.IsUnspecified() || a.Zone() != "" ||
				netip.MustParsePrefix("100.64.0.0/10").Contains(a) ||
				netip.MustParsePrefix("fd00:ec2::254/128").Contains(a) {
				t.Fatalf("accepted forbidden address %s in %q", a, raw)
			}
		} else if strings.Trim(host, "0123456789abcdefABCDEFxX.") == "" {
			if _, ok := parseIPv4Loose(host); ok {
				t.Fatalf("accepted IPv4 address in a non-standard form %q in %q", host, raw)
			}
		}
	})
}
