package guard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/hookrelay/hookrelay/guard"
)

func TestReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		want string // substring of the reason; "" means public
	}{
		// IPv4 refused
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"10.0.0.1", "RFC 1918"},
		{"10.255.255.255", "RFC 1918"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.254", "carrier-grade NAT"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"169.254.169.254", "metadata"},
		{"169.254.0.1", "link-local"},
		{"172.16.0.1", "RFC 1918"},
		{"172.31.255.255", "RFC 1918"},
		{"192.0.0.8", "IETF protocol"},
		{"192.0.2.10", "TEST-NET-1"},
		{"192.88.99.1", "6to4 relay"},
		{"192.168.1.1", "RFC 1918"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"198.51.100.7", "TEST-NET-2"},
		{"203.0.113.9", "TEST-NET-3"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.255", "broadcast"},
		// IPv4 public, including the neighbours of refused ranges
		{"1.1.1.1", ""},
		{"8.8.8.8", ""},
		{"9.255.255.255", ""},
		{"11.0.0.0", ""},
		{"100.63.255.255", ""},
		{"100.128.0.0", ""},
		{"126.255.255.255", ""},
		{"128.0.0.0", ""},
		{"169.253.255.255", ""},
		{"172.15.255.255", ""},
		{"172.32.0.0", ""},
		{"192.0.1.255", ""},
		{"192.167.255.255", ""},
		{"192.169.0.0", ""},
		{"198.17.255.255", ""},
		{"198.20.0.0", ""},
		{"223.255.255.255", ""},
		// IPv6 refused
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"febf:ffff::1", "link-local"},
		{"fc00::1", "unique-local"},
		{"fd12:3456:789a::1", "unique-local"},
		{"fec0::1", "site-local"},
		{"ff02::1", "multicast"},
		{"ff0e::1", "multicast"},
		{"2001:db8::1", "documentation"},
		{"3fff::1", "documentation"},
		{"100::1", "discard"},
		{"2001:2::1", "IETF protocol"},
		{"5f00::1", "segment routing"},
		{"4000::1", "reserved"},
		{"64:ff9b:1::1", "local-use NAT64"},
		// IPv4 hidden in IPv6
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:169.254.169.254", "metadata"},
		{"::ffff:10.0.0.1", "RFC 1918"},
		{"::ffff:0.0.0.0", "unspecified"},
		{"64:ff9b::a9fe:a9fe", "NAT64 address carries 169.254.169.254"},
		{"64:ff9b::7f00:1", "NAT64 address carries 127.0.0.1"},
		{"64:ff9b::c0a8:101", "NAT64 address carries 192.168.1.1"},
		{"2002:7f00:1::", "6to4 address carries 127.0.0.1"},
		{"2002:a9fe:a9fe::1", "6to4 address carries 169.254.169.254"},
		{"2002:0a00:0001:1::1", "6to4 address carries 10.0.0.1"},
		{"::127.0.0.1", "IPv4-compatible address carries 127.0.0.1"},
		{"::a9fe:a9fe", "IPv4-compatible address carries 169.254.169.254"},
		{"::8.8.8.8", "IPv4-compatible IPv6 address (deprecated)"},
		{"::ffff:0:7f00:1", "IPv4-translated address carries 127.0.0.1"},
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo address carries 127.0.0.1"},
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", "Teredo tunnel"},
		// IPv6 public
		{"2606:4700:4700::1111", ""},
		{"2a00:1450:4001:80b::200e", ""},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::808:808", ""},
		{"2002:808:808::1", ""},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			got := guard.Reason(netip.MustParseAddr(tc.addr))
			if tc.want == "" {
				assert.Empty(t, got)
				return
			}
			assert.Contains(t, got, tc.want)
		})
	}
}

func TestReasonOfTheZeroAddr(t *testing.T) {
	t.Parallel()
	assert.NotEmpty(t, guard.Reason(netip.Addr{}))
}

func TestCheckAddrAllowedRanges(t *testing.T) {
	t.Parallel()
	g := &guard.Guard{Allowed: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00:1::/32")}}
	for _, tc := range []struct {
		addr    string
		blocked bool
	}{
		{"10.1.2.3", false},
		{"::ffff:10.1.2.3", false},
		{"64:ff9b::a01:203", false}, // NAT64 of 10.1.2.3
		{"10.2.0.1", true},
		{"fd00:1::5", false},
		{"fd00:2::5", true},
		{"127.0.0.1", true},
		{"8.8.8.8", false},
	} {
		err := g.CheckAddr(netip.MustParseAddr(tc.addr))
		if !tc.blocked {
			assert.NoError(t, err, tc.addr)
			continue
		}
		var b *guard.BlockedError
		if assert.ErrorAs(t, err, &b, tc.addr) {
			assert.Equal(t, tc.addr, b.Addr)
		}
	}
	off := &guard.Guard{AllowPrivate: true}
	assert.NoError(t, off.CheckAddr(netip.MustParseAddr("169.254.169.254")), "AllowPrivate turns the guard off")
}

func TestParseCIDRs(t *testing.T) {
	t.Parallel()
	got, err := guard.ParseCIDRs(" 10.1.0.0/16, fd00::/8 ,192.168.1.7,,10.2.3.4/8")
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::/8"),
		netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("10.0.0.0/8"),
	}, got)
	none, err := guard.ParseCIDRs("")
	require.NoError(t, err)
	assert.Empty(t, none)
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0/8", "1.2.3.4/-1"} {
		_, err := guard.ParseCIDRs(bad)
		assert.Error(t, err, bad)
	}
}

// TestControlRefusesAtConnectionTime dials a real listener on 127.0.0.1 through a dialer
// with the guard's Control hook, the way the delivery client does: the name "localhost" is
// resolved first, and the resolved address is refused before any byte is sent.
func TestControlRefusesAtConnectionTime(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
	}))
	defer srv.Close()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)

	get := func(g *guard.Guard, host string) error {
		d := &net.Dialer{Control: g.Control}
		c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		resp, err := c.Get("http://" + net.JoinHostPort(host, port) + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		err := get(&guard.Guard{}, host)
		var b *guard.BlockedError
		require.ErrorAs(t, err, &b, host)
		assert.Equal(t, "loopback", b.Reason)
		assert.Contains(t, b.Addr, ":"+port, "the refused address is the resolved ip:port")
	}
	// Other spellings of 127.0.0.1 that some resolvers (inet_aton) accept: whether they
	// resolve or not, what the dialer would connect to is refused.
	for _, host := range []string{"127.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.0.0.1.", "[::ffff:127.0.0.1]"} {
		assert.Error(t, get(&guard.Guard{}, strings.Trim(host, "[]")), host)
	}
	mu.Lock()
	assert.Zero(t, hits, "nothing reached the listener")
	mu.Unlock()

	assert.NoError(t, get(&guard.Guard{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, "127.0.0.1"))
	assert.NoError(t, get(&guard.Guard{AllowPrivate: true}, "127.0.0.1"))
	mu.Lock()
	assert.Equal(t, 2, hits)
	mu.Unlock()
}

func TestControlRefusesWhatItCannotParse(t *testing.T) {
	t.Parallel()
	var b *guard.BlockedError
	require.ErrorAs(t, (&guard.Guard{}).Control("tcp", "not-an-address", nil), &b)
	assert.NoError(t, (&guard.Guard{}).Control("tcp4", "8.8.8.8:443", nil))
	require.ErrorAs(t, (&guard.Guard{}).Control("tcp6", "[fe80::1%eth0]:443", nil), &b)
	assert.Equal(t, "[fe80::1%eth0]:443", b.Addr)
}

// dnsServer is a real DNS server on 127.0.0.1 that answers A and AAAA queries from a table.
func dnsServer(t *testing.T, table map[string][]netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			name := strings.TrimSuffix(q.Name.String(), ".")
			for _, a := range table[name] {
				rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}
				switch {
				case q.Type == dnsmessage.TypeA && a.Is4():
					b.AResource(rh, dnsmessage.AResource{A: a.As4()})
				case q.Type == dnsmessage.TypeAAAA && a.Is6():
					b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
				}
			}
			msg, err := b.Finish()
			if err == nil {
				pc.WriteTo(msg, from)
			}
		}
	})
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	ips := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	r := dnsServer(t, map[string][]netip.Addr{
		"metadata.test": ips("169.254.169.254"),
		"internal.test": ips("10.0.0.5", "fd00::5"),
		"mixed.test":    ips("10.0.0.5", "93.184.215.14"),
		"public.test":   ips("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"),
		"mapped.test":   ips("::ffff:127.0.0.1"),
	})
	check := func(g *guard.Guard, raw string) error {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		g.Resolver = r
		return g.CheckURL(t.Context(), u)
	}
	for _, tc := range []struct {
		url  string
		want string // substring of the error; "" means accepted
	}{
		{"https://metadata.test/hook", "resolves only to addresses deliveries may not reach: 169.254.169.254 (link-local"},
		{"https://internal.test/hook", "10.0.0.5 (private network (RFC 1918)), fd00::5 (unique-local address)"},
		{"https://mapped.test/hook", "loopback"},
		{"https://mixed.test/hook", ""}, // one public address: the dialer refuses the other at connection time
		{"https://public.test/hook", ""},
		{"https://nxdomain.test/hook", ""}, // cannot tell now; the dialer decides later
		{"http://127.0.0.1:8080/hook", "destination 127.0.0.1 blocked: loopback"},
		{"http://[::1]/hook", "loopback"},
		{"http://[fe80::1%25eth0]/hook", "link-local"},
		{"http://[::ffff:a9fe:a9fe]/latest/meta-data", "metadata"},
		{"http://93.184.215.14/hook", ""},
	} {
		err := check(&guard.Guard{}, tc.url)
		if tc.want == "" {
			assert.NoError(t, err, tc.url)
			continue
		}
		var b *guard.BlockedError
		if assert.ErrorAs(t, err, &b, tc.url) {
			assert.Contains(t, err.Error(), tc.want, tc.url)
		}
	}

	assert.NoError(t, check(&guard.Guard{AllowPrivate: true}, "http://metadata.test/"))
	assert.NoError(t, check(&guard.Guard{Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "https://internal.test/"))

	httpsOnly := &guard.Guard{HTTPSOnly: true, AllowPrivate: true}
	err := check(httpsOnly, "http://public.test/hook")
	var b *guard.BlockedError
	require.True(t, errors.As(err, &b))
	assert.Contains(t, err.Error(), "only https:// URLs are allowed")
	assert.NoError(t, check(httpsOnly, "https://public.test/hook"))
	assert.NoError(t, check(httpsOnly, "HTTPS://public.test/hook"))
}
