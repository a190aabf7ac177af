package relay

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/mxrelay/mxrelay/lookup"
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
			f = lookup.SystemInterfaceAddrs
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
		addrs, err := lookup.InterfaceAddrs(cf.Get(name), func() ([]netip.Prefix, error) {
			loadAll()
			ps := make([]netip.Prefix, len(all))
			for i, a := range all {
				ps[i] = netip.PrefixFrom(a, a.BitLen())
			}
			return ps, nil
		})
		if err != nil {
			return nil, nil, &maincf.ValueError{Param: name, Value: cf.Get(name), Reason: err.Error()}
		}
		for _, a := range addrs {
			add(a)
		}
	}
	return out, warns, nil
}
