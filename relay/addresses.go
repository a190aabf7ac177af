package relay

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/mxrelay/mxrelay/relay/maincf"
)

// myAddresses collects the addresses this relay answers on: the MX loop check of
// Postfix's smtp_addr.c compares MX hosts with them, and "[ip]" literals of
// them are local.
func myAddresses(cf *maincf.File, o LoadOptions) ([]netip.Addr, []string, error) {
	var out, all []netip.Addr
	var warns []string
	loadAll := func() {
		if all != nil {
			return
		}
		f := cf.InterfaceAddrs
		if f == nil {
			f = maincf.SystemInterfaceAddrs
		}
		ps, err := f()
		if err != nil {
			warns = append(warns, fmt.Sprintf("cannot list interface addresses: %v", err))
		}
		all = []netip.Addr{}
		for _, p := range ps {
			all = append(all, p.Addr().WithZone(""))
		}
	}
	add := func(a netip.Addr) {
		a = a.Unmap().WithZone("")
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for _, a := range o.Listen {
		if a.IsUnspecified() {
			loadAll()
			for _, b := range all {
				add(b)
			}
			continue
		}
		add(a)
	}
	for _, name := range []string{"inet_interfaces", "proxy_interfaces"} {
		for _, v := range cf.List(name) {
			switch strings.ToLower(v) {
			case "all":
				loadAll()
				for _, b := range all {
					add(b)
				}
				continue
			case "loopback-only":
				add(netip.MustParseAddr("127.0.0.1"))
				add(netip.IPv6Loopback())
				continue
			}
			a, err := netip.ParseAddr(strings.Trim(v, "[]"))
			if err != nil {
				// Postfix resolves a host name here at startup; mxrelay
				// does no DNS at startup, and leaving the name out would
				// let the MX loop check miss this host's own address.
				return nil, nil, &maincf.ValueError{Param: name, Value: cf.Get(name), Reason: fmt.Sprintf("%q is not an IP address; host names are not resolved (list its addresses)", v)}
			}
			add(a)
		}
	}
	return out, warns, nil
}
