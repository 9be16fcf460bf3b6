package guard_test

import (
	"net/netip"
	"testing"

	"github.com/hookrelay/hookrelay/guard"
)

// FuzzReason checks the address classifier against the standard library's own predicates
// and checks that no IPv6 form carrying a refused IPv4 address gets through.
func FuzzReason(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1", "169.254.169.254", "10.0.0.1", "100.64.0.1", "8.8.8.8", "0.0.0.0", "255.255.255.255",
		"::1", "::", "fe80::1", "fd00::1", "ff02::1", "2606:4700:4700::1111", "::ffff:127.0.0.1",
		"64:ff9b::7f00:1", "2002:7f00:1::", "::7f00:1", "2001:0:4136:e378:8000:63bf:80ff:fffe",
	} {
		b := netip.MustParseAddr(s).As16()
		f.Add(b[:])
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) != 16 {
			return
		}
		ip := netip.AddrFrom16([16]byte(raw))
		reason := guard.Reason(ip)
		std := ip.Unmap()
		if std.IsLoopback() || std.IsPrivate() || std.IsLinkLocalUnicast() || std.IsMulticast() ||
			std.IsUnspecified() || std.IsInterfaceLocalMulticast() || std.IsLinkLocalMulticast() {
			if reason == "" {
				t.Fatalf("%s is not public by net/netip, but the guard lets it through", ip)
			}
		}
		if reason == "" && ip.Is6() && !ip.Is4In6() && !std.IsGlobalUnicast() {
			t.Fatalf("%s is not global unicast, but the guard lets it through", ip)
		}

		// Every IPv6 form carrying a refused IPv4 address is refused; a mapped address is
		// judged exactly as the IPv4 address it maps.
		b := ip.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:16]))
		v4Reason := guard.Reason(v4)
		mapped := netip.AddrFrom16(netip.AddrFrom4(v4.As4()).As16())
		if (guard.Reason(mapped) == "") != (v4Reason == "") {
			t.Fatalf("%s and %s get different verdicts", v4, mapped)
		}
		if v4Reason != "" {
			for _, form := range []string{"64:ff9b::", "::", "::ffff:0:0:0"} {
				p := netip.MustParseAddr(form).As16()
				copy(p[12:], b[12:16])
				if a := netip.AddrFrom16(p); guard.Reason(a) == "" {
					t.Fatalf("%s carries %s (%s) but is let through", a, v4, v4Reason)
				}
			}
			sixToFour := [16]byte{0x20, 0x02, b[12], b[13], b[14], b[15]}
			if a := netip.AddrFrom16(sixToFour); guard.Reason(a) == "" {
				t.Fatalf("6to4 %s carries %s (%s) but is let through", a, v4, v4Reason)
			}
		}
		if got, ok := guard.Embedded(ip); ok && guard.Reason(got) != "" && reason == "" {
			t.Fatalf("%s carries refused %s but is let through", ip, got)
		}

		// The dialer hook agrees with the classifier.
		err := (&guard.Guard{}).Control("tcp", netip.AddrPortFrom(ip, 443).String(), nil)
		if (err == nil) != (reason == "") {
			t.Fatalf("Control(%s) = %v, Reason = %q", ip, err, reason)
		}
	})
}

// FuzzControl feeds the dialer hook arbitrary address strings: it must never panic, and it
// lets through only a parseable address that the classifier calls public.
func FuzzControl(f *testing.F) {
	for _, s := range []string{"127.0.0.1:80", "[::1]:443", "[fe80::1%eth0]:80", "8.8.8.8:443", "", ":", "[::ffff:10.0.0.1]:1", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		err := (&guard.Guard{}).Control("tcp", addr, nil)
		if err != nil {
			return
		}
		ap, perr := netip.ParseAddrPort(addr)
		if perr != nil {
			t.Fatalf("Control let %q through, which is not an address", addr)
		}
		if r := guard.Reason(ap.Addr()); r != "" {
			t.Fatalf("Control let %q through: %s", addr, r)
		}
	})
}
