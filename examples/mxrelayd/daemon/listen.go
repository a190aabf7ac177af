package daemon

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// listenerGroups decides where mxrelayd listens, as Postfix does when
// -listen does not say: on the smtpd (and postscreen) inet services of
// the master.cf beside main.cf, each service's "-o" overrides applied to
// its listeners only; without a master.cf, on port 25 of the
// inet_interfaces addresses. groups[0] is always main.cf's own
// configuration (it delivers), possibly with no listener of its own.
func listenerGroups(cf *maincf.File) ([]*listenGroup, error) {
	main := &listenGroup{}
	groups := []*listenGroup{main}
	ls, found, err := cf.Listeners()
	if err != nil {
		return nil, err
	}
	if !found {
		main.addrs, err = interfaceListen(cf, "", 25)
		return groups, err
	}
	if len(ls) == 0 {
		return nil, fmt.Errorf("the master.cf beside main.cf has no smtpd or postscreen inet service: give -listen")
	}
	for _, l := range ls {
		addrs, err := interfaceListen(cf, l.Host, l.Port)
		if err != nil {
			return nil, fmt.Errorf("master.cf service %s: %w", l.Service, err)
		}
		g := main
		if len(l.Overrides) > 0 {
			g = &listenGroup{service: l.Service, overrides: l.Overrides}
			groups = append(groups, g)
		}
		for _, a := range addrs {
			if !slices.Contains(g.addrs, a) {
				g.addrs = append(g.addrs, a)
			}
		}
	}
	return groups, nil
}

// interfaceListen is where a service binds: host:port when the service
// names a host, else port on every inet_interfaces address ("all": the
// wildcard address of the inet_protocols families).
func interfaceListen(cf *maincf.File, host string, port int) ([]string, error) {
	p := strconv.Itoa(port)
	if host != "" {
		return []string{net.JoinHostPort(host, p)}, nil
	}
	ifaces := strings.ToLower(strings.TrimSpace(cf.Get("inet_interfaces")))
	if ifaces == "all" {
		protos := cf.List("inet_protocols")
		v4 := slices.Contains(protos, "all") || slices.Contains(protos, "ipv4")
		v6 := slices.Contains(protos, "all") || slices.Contains(protos, "ipv6")
		switch {
		case v4 && !v6:
			return []string{"0.0.0.0:" + p}, nil
		case v6 && !v4:
			return []string{"[::]:" + p}, nil
		}
		return []string{":" + p}, nil
	}
	addrs, err := lookup.InterfaceAddrs(cf.Get("inet_interfaces"), lookup.SystemInterfaceAddrs)
	if err != nil {
		return nil, &maincf.ValueError{Param: "inet_interfaces", Value: cf.Get("inet_interfaces"), Reason: err.Error()}
	}
	var out []string
	for _, a := range addrs {
		out = append(out, net.JoinHostPort(a.String(), p))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("inet_interfaces %q gives no address to listen on", cf.Get("inet_interfaces"))
	}
	return out, nil
}

// listenAddrs are the addresses of a group's listeners, for the relay's
// own-address checks (LoadOptions.Listen).
func listenAddrs(addrs []string) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		if host == "" {
			out = append(out, netip.IPv6Unspecified())
			continue
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

// flagGiven reports whether the command line set the flag.
func flagGiven(fs interface{ Visit(func(*flag.Flag)) }, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
