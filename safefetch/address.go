package safefetch

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// IPv4 ranges never connected to: the special-purpose registry's ranges that
// are not globally reachable, plus multicast and the reserved class E.
var forbiddenV4 = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network", with the unspecified address
	netip.MustParsePrefix("10.0.0.0/8"),      // private
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT; Alibaba Cloud's metadata 100.100.100.200
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local; cloud metadata 169.254.169.254
	netip.MustParsePrefix("172.16.0.0/12"),   // private
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast
	netip.MustParsePrefix("192.168.0.0/16"),  // private
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("224.0.0.0/4"),     // multicast
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, with broadcast 255.255.255.255
}

// IPv6 is allowed only inside global unicast, which leaves out loopback,
// unspecified, IPv4-compatible and -translated forms, unique-local (AWS's
// fd00:ec2::254), link-local, site-local and multicast in one stroke.
var globalV6 = netip.MustParsePrefix("2000::/3")

// Parts of global unicast that are not global in practice.
var forbiddenV6 = []netip.Prefix{
	netip.MustParsePrefix("2001::/23"),     // IETF protocol assignments, with Teredo 2001::/32
	netip.MustParsePrefix("2001:db8::/32"), // documentation
	netip.MustParsePrefix("2002::/16"),     // 6to4: tunnels to the IPv4 address it embeds
	netip.MustParsePrefix("3fff::/20"),     // documentation
}

// NAT64 addresses carry the IPv4 address they reach in their last 32 bits.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// isPublic reports whether a is a globally reachable unicast address.
func isPublic(a netip.Addr) bool {
	a = a.Unmap()
	switch {
	case !a.IsValid() || a.Zone() != "":
		return false
	case a.Is4():
		for _, p := range forbiddenV4 {
			if p.Contains(a) {
				return false
			}
		}
		return true
	case nat64.Contains(a):
		b := a.As16()
		return isPublic(netip.AddrFrom4([4]byte(b[12:])))
	case !globalV6.Contains(a):
		return false
	}
	for _, p := range forbiddenV6 {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// policy is what a Client may connect to.
type policy struct {
	allowedNets []netip.Prefix
	ports       []int
	schemes     []string
}

func newPolicy(o Options) *policy {
	return &policy{allowedNets: o.AllowedNets, ports: o.AllowedPorts, schemes: o.Schemes}
}

func (p *policy) addrAllowed(a netip.Addr) bool {
	a = a.Unmap()
	bare := a.WithZone("")
	for _, n := range p.allowedNets {
		if n.Contains(bare) {
			return true
		}
	}
	return isPublic(a)
}

func (p *policy) portAllowed(port int) bool { return slices.Contains(p.ports, port) }

// control is the dialer's Control function: the last word on every
// connection, made with the resolved address just before connecting.
func (p *policy) control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" && network != "tcp" {
		return fmt.Errorf("%w: network %q", ErrForbiddenAddress, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check %q", ErrForbiddenAddress, address)
	}
	if !p.addrAllowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr().Unmap())
	}
	if !p.portAllowed(int(ap.Port())) {
		return fmt.Errorf("%w: %d", ErrForbiddenPort, ap.Port())
	}
	return nil
}

// maxURLLen bounds the URL a client may name.
const maxURLLen = 8 << 10

// parseURL parses raw and checks it with checkURL.
func (p *policy) parseURL(raw string) (*url.URL, error) {
	if len(raw) > maxURLLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrBadURL, maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, WithoutURL(err))
	}
	if err := p.checkURL(u); err != nil {
		return nil, err
	}
	return u, nil
}

// checkURL refuses what can be refused from the URL alone: the scheme, user
// information, malformed hosts, forbidden IP literals and ports. The host
// is checked before the port so that a forbidden address is reported as
// one whatever its port.
func (p *policy) checkURL(u *url.URL) error {
	if u.Scheme == "" || u.Opaque != "" {
		return fmt.Errorf("%w: not an absolute URL with a host", ErrBadURL)
	}
	if !slices.Contains(p.schemes, u.Scheme) {
		return fmt.Errorf("%w: %q", ErrForbiddenScheme, u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("%w: user information is not allowed", ErrBadURL)
	}
	addr, isIP, err := hostAddr(u)
	if err != nil {
		return err
	}
	if isIP && !p.addrAllowed(addr) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, addr.Unmap())
	}

	port := defaultPort(u.Scheme)
	if s := u.Port(); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: port %q", ErrBadURL, s)
		}
		port = n
	}
	if !p.portAllowed(port) {
		return fmt.Errorf("%w: %d", ErrForbiddenPort, port)
	}
	return nil
}

func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// hostAddr returns the IP address u's host denotes, if it is an IP literal.
// Names are left to the dial-time check. A host that would be read as an
// IPv4 address by some parser but is not a canonical dotted quad is refused
// outright: inet_aton, and so getaddrinfo, reads 2130706433, 0x7f.1 and
// 0177.0.0.1 as 127.0.0.1, and browsers' URL parsers do the same.
func hostAddr(u *url.URL) (netip.Addr, bool, error) {
	host := u.Hostname()
	if host == "" {
		return netip.Addr{}, false, fmt.Errorf("%w: no host", ErrBadURL)
	}
	if strings.HasPrefix(u.Host, "[") {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return netip.Addr{}, false, fmt.Errorf("%w: bad IPv6 literal %q", ErrBadURL, host)
		}
		return a, true, nil
	}
	if len(host) > 253 {
		return netip.Addr{}, false, fmt.Errorf("%w: host name too long", ErrBadURL)
	}
	for i := 0; i < len(host); i++ {
		if !isHostByte(host[i]) {
			// Non-ASCII too: the transport maps names through IDNA, which
			// turns full-width digits and dots into ASCII ones, so
			// "１２７．０．０．１" would reach the dialer as 127.0.0.1.
			return netip.Addr{}, false, fmt.Errorf("%w: host %q must be ASCII letters, digits, '-', '_' and '.' (punycode for international names)", ErrBadURL, host)
		}
	}
	if !endsInNumber(host) {
		return netip.Addr{}, false, nil
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		return a, true, nil
	}
	if a, ok := parseIPv4Loose(host); ok {
		return netip.Addr{}, false, fmt.Errorf("%w: %q is %s in a non-standard form", ErrForbiddenAddress, host, a)
	}
	return netip.Addr{}, false, fmt.Errorf("%w: host %q ends in a number but is not an IPv4 address", ErrBadURL, host)
}

func isHostByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.'
}

// endsInNumber reports whether the last label of host is a number, decimal
// or 0x-hexadecimal, which makes it an IPv4 address to the WHATWG URL
// parser. No top-level domain is numeric.
func endsInNumber(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		return strings.Trim(last[2:], "0123456789abcdefABCDEF") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// parseIPv4Loose parses host the way inet_aton does: one to four parts,
// each decimal, octal (leading 0) or hexadecimal (leading 0x), the last
// filling the remaining bytes; a single trailing dot is allowed.
func parseIPv4Loose(host string) (netip.Addr, bool) {
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var nums [4]uint64
	for i, s := range parts {
		base := 10
		switch {
		case len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
			base, s = 16, s[2:]
			if s == "" {
				s = "0"
			}
		case len(s) >= 2 && s[0] == '0':
			base, s = 8, s[1:]
		}
		if s == "" || s[0] == '+' || s[0] == '-' {
			return netip.Addr{}, false
		}
		n, err := strconv.ParseUint(s, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		nums[i] = n
	}
	last := len(parts) - 1
	var v uint64
	for i := range last {
		if nums[i] > 0xff {
			return netip.Addr{}, false
		}
		v |= nums[i] << (24 - 8*i)
	}
	if nums[last] >= 1<<(32-8*last) {
		return netip.Addr{}, false
	}
	v |= nums[last]
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}
