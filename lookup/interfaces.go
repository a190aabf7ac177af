package lookup

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// InterfaceAddrs reads an inet_interfaces or proxy_interfaces value: IP
// addresses (with or without brackets), "loopback-only" (127.0.0.1 and
// ::1) and "all" (every address all returns). Postfix also resolves host
// names here at startup; mxrelay does no DNS at startup, so a host name
// is an error naming it (leaving it out would let the MX loop check miss
// this host's own address). Addresses are unmapped and without zones.
func InterfaceAddrs(value string, all func() ([]netip.Prefix, error)) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, tok := range SplitList(value) {
		switch strings.ToLower(tok) {
		case "all":
			ps, err := all()
			if err != nil {
				return out, fmt.Errorf("cannot list interface addresses: %w", err)
			}
			for _, p := range ps {
				out = append(out, p.Addr().Unmap().WithZone(""))
			}
		case "loopback-only":
			out = append(out, netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback())
		default:
			a, err := netip.ParseAddr(strings.Trim(tok, "[]"))
			if err != nil {
				return out, fmt.Errorf("%q is not an IP address; host names are not resolved (list its addresses)", tok)
			}
			out = append(out, a.Unmap().WithZone(""))
		}
	}
	return out, nil
}

// SystemInterfaceAddrs lists this machine's interface addresses with their
// prefix lengths (net.InterfaceAddrs), IPv4-mapped addresses unmapped: the
// "all" of InterfaceAddrs and the source of Postfix's mynetworks default.
func SystemInterfaceAddrs() ([]netip.Prefix, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				ones, _ := n.Mask.Size()
				out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
			}
		}
	}
	return out, nil
}
