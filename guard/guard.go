// Package guard is the destination guard. Webhook URLs are typed in by users, so without it
// hookrelay would POST wherever it is told: to the cloud metadata service, to an admin port on
// localhost, to anything on the private network it runs in. The guard refuses every address
// that is not public unicast internet space.
//
// It checks at two points. At connection time, through the dialer's Control hook (see
// Guard.Control), it vets the exact IP the socket is about to connect to, after DNS resolution:
// a name that resolves to a public address when a webhook is saved and to 127.0.0.1 later
// (DNS rebinding) is still refused, as are IPv4 addresses hidden in IPv6 forms (IPv4-mapped,
// 6to4, NAT64, IPv4-compatible). When a webhook is created or edited, Guard.CheckURL refuses a
// host that resolves only to refused addresses, so the mistake is reported at once rather than
// as failed deliveries.
//
// The package depends on the standard library only.
package guard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// BlockedError is returned when the guard refuses a destination.
type BlockedError struct {
	Addr   string // the address, host or URL refused
	Reason string
}

func (e *BlockedError) Error() string { return "destination " + e.Addr + " blocked: " + e.Reason }

// Guard decides which destinations deliveries may reach. The zero Guard refuses every
// address that is not public.
type Guard struct {
	// AllowPrivate turns the address checks off: every address may be reached. It is for
	// development, where receivers run on the same machine.
	AllowPrivate bool
	// Allowed lists ranges that may be reached although they are not public, such as a
	// private network whose receivers are trusted.
	Allowed []netip.Prefix
	// HTTPSOnly makes CheckURL refuse http:// URLs. (Deliveries refuse them in the delivery
	// client, which sees the scheme; the dialer does not.)
	HTTPSOnly bool
	// Resolver resolves host names for CheckURL (net.DefaultResolver when nil).
	Resolver *net.Resolver
	// LookupTimeout bounds CheckURL's DNS lookup (5s when 0).
	LookupTimeout time.Duration
}

// CheckAddr returns a *BlockedError when ip may not be reached, nil when it may.
func (g *Guard) CheckAddr(ip netip.Addr) error {
	if b := g.check(ip); b != nil {
		return b
	}
	return nil
}

func (g *Guard) check(ip netip.Addr) *BlockedError {
	if g.AllowPrivate {
		return nil
	}
	ip = ip.WithZone("")
	if g.allowed(ip) {
		return nil
	}
	if reason := Reason(ip); reason != "" {
		return &BlockedError{Addr: ip.String(), Reason: reason}
	}
	return nil
}

// allowed reports whether ip, or the IPv4 address it carries, is in an allowed range.
func (g *Guard) allowed(ip netip.Addr) bool {
	if len(g.Allowed) == 0 {
		return false
	}
	ip = ip.Unmap()
	v4, embeds := Embedded(ip)
	for _, p := range g.Allowed {
		if p.Contains(ip) || embeds && p.Contains(v4) {
			return true
		}
	}
	return false
}

// Control is a net.Dialer Control hook: it runs after DNS resolution, just before the socket
// connects to address ("ip:port"), and refuses it with a *BlockedError when the guard says so.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Addr: address, Reason: "not an IP address and port"}
	}
	if b := g.check(ap.Addr()); b != nil {
		b.Addr = address
		return b
	}
	return nil
}

// CheckURL vets a webhook URL when it is saved: with HTTPSOnly it must be https, and its host
// must be, or resolve to, at least one address the guard lets through. A host that does not
// resolve (yet) passes: the check at connection time still applies. Errors are *BlockedError
// with a message fit to show the user.
func (g *Guard) CheckURL(ctx context.Context, u *url.URL) error {
	if g.HTTPSOnly && !strings.EqualFold(u.Scheme, "https") {
		return &BlockedError{Addr: u.Scheme + "://" + u.Host, Reason: "only https:// URLs are allowed"}
	}
	if g.AllowPrivate {
		return nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		return g.CheckAddr(ip)
	}
	timeout := g.LookupTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil
	}
	var refused []string
	for _, a := range addrs {
		b := g.check(a.Unmap()) // the resolver may hand back IPv4 answers as ::ffff:a.b.c.d
		if b == nil {
			return nil
		}
		refused = append(refused, b.Addr+" ("+b.Reason+")")
	}
	return &BlockedError{Addr: host, Reason: "it resolves only to addresses deliveries may not reach: " + strings.Join(refused, ", ")}
}

// rule is a range of addresses that is not public, and why.
type rule struct {
	prefix netip.Prefix
	reason string
}

func rules(pairs ...string) []rule {
	out := make([]rule, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, rule{netip.MustParsePrefix(pairs[i]), pairs[i+1]})
	}
	return out
}

// v4Rules are the IPv4 ranges of the IANA special-purpose registry that are not globally
// reachable, plus multicast and the reserved 240/4.
var v4Rules = rules(
	"0.0.0.0/8", "unspecified address (this network)",
	"10.0.0.0/8", "private network (RFC 1918)",
	"100.64.0.0/10", "carrier-grade NAT (RFC 6598)",
	"127.0.0.0/8", "loopback",
	"169.254.0.0/16", "link-local (includes the cloud metadata service 169.254.169.254)",
	"172.16.0.0/12", "private network (RFC 1918)",
	"192.0.0.0/24", "IETF protocol assignments (reserved)",
	"192.0.2.0/24", "documentation range (TEST-NET-1)",
	"192.88.99.0/24", "6to4 relay anycast (deprecated)",
	"192.168.0.0/16", "private network (RFC 1918)",
	"198.18.0.0/15", "benchmarking range (RFC 2544)",
	"198.51.100.0/24", "documentation range (TEST-NET-2)",
	"203.0.113.0/24", "documentation range (TEST-NET-3)",
	"224.0.0.0/4", "multicast",
	"240.0.0.0/4", "reserved (includes broadcast 255.255.255.255)",
)

// v6Rules are checked in order after the forms that embed an IPv4 address.
var v6Rules = rules(
	"::/96", "IPv4-compatible IPv6 address (deprecated)",
	"::ffff:0:0:0/96", "IPv4-translated IPv6 address (reserved)",
	"64:ff9b:1::/48", "local-use NAT64 (RFC 8215)",
	"100::/64", "discard-only range (RFC 6666)",
	"2001::/32", "Teredo tunnel (RFC 4380)",
	"2001::/23", "IETF protocol assignments (reserved)",
	"2001:db8::/32", "documentation range",
	"3fff::/20", "documentation range",
	"5f00::/16", "segment routing SIDs (RFC 9602)",
	"fc00::/7", "unique-local address",
	"fe80::/10", "link-local",
	"fec0::/10", "site-local (deprecated)",
	"ff00::/8", "multicast",
)

var (
	globalUnicast = netip.MustParsePrefix("2000::/3")
	nat64         = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour     = netip.MustParsePrefix("2002::/16")
	v4Compatible  = netip.MustParsePrefix("::/96")
	v4Translated  = netip.MustParsePrefix("::ffff:0:0:0/96")
	teredo        = netip.MustParsePrefix("2001::/32")
)

// Embedded returns the IPv4 address that an IPv6 address carries in one of the forms a
// packet can be routed to it by: IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d),
// 6to4 (2002:AABB:CCDD::), IPv4-compatible (::a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d)
// and Teredo (the client address, stored inverted).
func Embedded(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	ip = ip.WithZone("")
	b := ip.As16()
	last := netip.AddrFrom4([4]byte(b[12:16]))
	switch {
	case ip.Is4In6():
		return ip.Unmap(), true
	case nat64.Contains(ip), v4Translated.Contains(ip), v4Compatible.Contains(ip):
		return last, true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case teredo.Contains(ip):
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	}
	return netip.Addr{}, false
}

// Reason returns why ip is not a public unicast address, or "" when it is one. An IPv6 form
// that carries an IPv4 address is judged by that address too.
func Reason(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid address"
	}
	ip = ip.WithZone("")
	if ip.Is4() {
		for _, r := range v4Rules {
			if r.prefix.Contains(ip) {
				return r.reason
			}
		}
		return ""
	}
	switch {
	case ip.IsUnspecified():
		return "unspecified address"
	case ip.IsLoopback():
		return "loopback"
	}
	if v4, ok := Embedded(ip); ok {
		if why := Reason(v4); why != "" {
			return fmt.Sprintf("%s carries %s, %s", form(ip), v4, why)
		}
		if ip.Is4In6() || nat64.Contains(ip) || sixToFour.Contains(ip) {
			return "" // a public IPv4 address, reached by IPv4 or a translator
		}
	}
	for _, r := range v6Rules {
		if r.prefix.Contains(ip) {
			return r.reason
		}
	}
	if !globalUnicast.Contains(ip) {
		return "reserved (outside IPv6 global unicast 2000::/3)"
	}
	return ""
}

// form names the IPv6 form that embeds an IPv4 address.
func form(ip netip.Addr) string {
	switch {
	case ip.Is4In6():
		return "IPv4-mapped address"
	case nat64.Contains(ip):
		return "NAT64 address"
	case sixToFour.Contains(ip):
		return "6to4 address"
	case teredo.Contains(ip):
		return "Teredo address"
	case v4Translated.Contains(ip):
		return "IPv4-translated address"
	}
	return "IPv4-compatible address"
}

// ParseCIDRs parses a comma-separated list of CIDR ranges ("10.1.0.0/16, fd00::/8"). A bare
// address counts as a range of one.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			ip, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR range or an IP address", f)
			}
			out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR range such as 10.0.0.0/8", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
