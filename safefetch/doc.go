// Package safefetch fetches a URL on a user's behalf without letting the
// user reach what only the server can reach (server-side request forgery).
//
// "Upload from a URL" makes the server an HTTP client for whoever names the
// URL. Without care that client fetches http://169.254.169.254/ (the cloud
// metadata service, with its credentials), http://localhost:6379/, or any
// host on the private network. A [Client] refuses those.
//
// # What is refused
//
// Connections to loopback, private (RFC 1918), carrier-grade NAT, link-local
// (which holds the metadata service 169.254.169.254), unique-local (which
// holds AWS's fd00:ec2::254), multicast, unspecified, broadcast, reserved,
// documentation and benchmarking addresses, and IPv6 transition ranges that
// tunnel to an embedded IPv4 address (Teredo, 6to4). IPv6 is allowed only in
// the global unicast range 2000::/3; a NAT64 address (64:ff9b::/96) is
// judged by the IPv4 address it embeds. Options.AllowedNets lists
// exceptions.
//
// Ports other than 80 and 443, schemes other than http and https, URLs with
// user information (http://user:pass@host/) and hosts that are IPv4
// addresses written in a non-standard form (http://2130706433/,
// http://0x7f.1/, http://0177.0.0.1/) are refused too. Host names must be
// ASCII; international names are written in punycode.
//
// # Where the checks happen
//
// The URL is checked before the request and again for every redirect. That
// check cannot see where a host name leads, and a name may resolve to a
// public address when checked and to 127.0.0.1 a moment later (DNS
// rebinding). So the decisive check is made at the dial: the dialer's
// Control function sees the IP address and port actually being connected
// to, after resolution, and refuses before the connection is opened. Every
// spelling of an address, including IPv4-mapped IPv6 ones, arrives there as
// one netip.Addr.
//
// The client never uses a proxy from the environment: a proxy would make the
// dialed address the proxy's, not the target's.
//
// # Limits
//
// Redirects, body size and total time are capped; see [Options]. A body
// larger than the cap is refused at once when Content-Length announces it,
// and otherwise fails with [ErrTooLarge] when read past the cap.
//
// # Errors
//
// Errors match one of the sentinels with errors.Is, and [Code] turns any
// error from a [Client] into a stable snake_case code for clients. Error
// text may name the refused address; the text is for logs.
package safefetch
