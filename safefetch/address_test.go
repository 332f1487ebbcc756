package safefetch

import (
	"errors"
	"net/netip"
	"testing"
)

func TestIsPublic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"93.184.215.14", true},
		{"2606:4700:4700::1111", true},
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"0.0.0.0", false},
		{"10.1.2.3", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"169.254.169.254", false},
		{"172.31.255.255", false},
		{"192.0.0.170", false},
		{"192.168.0.1", false},
		{"198.18.0.1", false},
		{"224.0.0.251", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		{"::", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::127.0.0.1", false},
		{"::ffff:0:127.0.0.1", false},
		{"64:ff9b::7f00:1", false},    // NAT64 of 127.0.0.1
		{"64:ff9b:1::808:808", false}, // local-use NAT64
		{"fd00:ec2::254", false},
		{"fc00::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"100::1", false},
		{"2001::1", false},
		{"2001:db8::1", false},
		{"2002:a9fe:a9fe::1", false},
		{"3fff::1", false},
	} {
		if got := isPublic(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("isPublic(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestControl(t *testing.T) {
	t.Parallel()
	p := newPolicy(Options{AllowedNets: loopback4, AllowedPorts: []int{443, 8080}}.withDefaults())
	for _, tc := range []struct {
		network, address string
		want             error
	}{
		{"tcp4", "8.8.8.8:443", nil},
		{"tcp6", "[2606:4700:4700::1111]:443", nil},
		{"tcp4", "127.0.0.1:8080", nil},
		{"tcp6", "[::ffff:127.0.0.1]:8080", nil},
		{"tcp4", "8.8.8.8:22", ErrForbiddenPort},
		{"tcp4", "127.0.0.2:8080", ErrForbiddenAddress},
		{"tcp6", "[::1]:8080", ErrForbiddenAddress},
		{"tcp4", "169.254.169.254:443", ErrForbiddenAddress},
		{"tcp6", "[::ffff:169.254.169.254]:443", ErrForbiddenAddress},
		{"tcp6", "[fd00:ec2::254]:443", ErrForbiddenAddress},
		{"tcp6", "[fe80::1%eth0]:443", ErrForbiddenAddress},
		{"tcp4", "localhost:443", ErrForbiddenAddress}, // unresolved: cannot be checked
		{"tcp4", "8.8.8.8", ErrForbiddenAddress},
		{"udp4", "8.8.8.8:443", ErrForbiddenAddress},
	} {
		if err := p.control(tc.network, tc.address, nil); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("control(%s, %s) = %v, want %v", tc.network, tc.address, err, tc.want)
		}
	}
}

func TestParseIPv4Loose(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		host string
		want string // "" when not an address
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"017700000001", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"0X7F.1", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"0x7f.0.0.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"127.0.0.1.", "127.0.0.1"},
		{"0x", "0.0.0.0"},
		{"0", "0.0.0.0"},
		{"4294967295", "255.255.255.255"},
		{"4294967296", ""},
		{"256.0.0.1", ""},
		{"1.2.3.4.5", ""},
		{"08.0.0.1", ""},
		{"1..1", ""},
		{"", ""},
		{"example.com", ""},
		{"+1.2.3.4", ""},
	} {
		a, ok := parseIPv4Loose(tc.host)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("parseIPv4Loose(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
}

func TestCheckURLAllowed(t *testing.T) {
	t.Parallel()
	p := newPolicy(Options{}.withDefaults())
	for _, u := range []string{
		"http://example.com/",
		"https://example.com:443/a?b=c#d",
		"HTTPS://Example.COM./",
		"http://8.8.8.8/",
		"http://[2606:4700:4700::1111]/",
		"http://xn--bcher-kva.example/",
		"http://under_score.example/",
		"http://1password.com/",
		"http://example.com:/",
	} {
		if _, err := p.parseURL(u); err != nil {
			t.Errorf("parseURL(%q) = %v, want nil", u, err)
		}
	}
}
