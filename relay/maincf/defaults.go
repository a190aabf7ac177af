package maincf

import (
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// Default returns Postfix 3.7's default of a parameter, unexpanded, as
// "postconf -d" prints it, and whether Postfix knows the parameter.
// Host-dependent defaults (myhostname, mydomain, mynetworks) are empty
// here; File computes them for its host.
func Default(name string) (string, bool) {
	v, ok := postfixDefaults[name]
	return v, ok
}

// defaultValue returns the unexpanded default of a parameter Postfix
// knows: built in, per master.cf service, or computed from the host.
func (f *File) defaultValue(name string) (string, bool) {
	switch name {
	case "myhostname":
		return f.defaultHostname(), true
	case "mydomain":
		return defaultDomain(f.Get("myhostname")), true
	case "mynetworks":
		return f.defaultMynetworks(), true
	case "config_directory":
		if f.configDir != "" {
			return f.configDir, true
		}
	}
	if v, ok := postfixDefaults[name]; ok {
		return v, true
	}
	return f.serviceDefault(name)
}

// serviceDefault is the default of a per-service parameter
// (relay_destination_concurrency_limit) of a master.cf service.
func (f *File) serviceDefault(name string) (string, bool) {
	for _, s := range f.services() {
		if suffix, ok := strings.CutPrefix(name, s+"_"); ok {
			if v, ok := serviceDefaults[suffix]; ok {
				return v, true
			}
		}
	}
	return "", false
}

// known reports whether Postfix knows the parameter (built in or per
// service), as postconf decides before it reports "unused parameter".
func (f *File) known(name string) bool {
	if _, ok := postfixDefaults[name]; ok {
		return true
	}
	_, ok := f.serviceDefault(name)
	return ok
}

// defaultHostname is Postfix's myhostname default: the host name, made
// fully qualified with ".localdomain" when it has no dot.
func (f *File) defaultHostname() string {
	h := f.Hostname
	if h == "" {
		h, _ = os.Hostname()
	}
	if h == "" {
		h = "localhost"
	}
	if !strings.Contains(h, ".") {
		h += ".localdomain"
	}
	return strings.ToLower(h)
}

// defaultDomain is Postfix's mydomain default: myhostname without its
// first label ("localdomain" for a name without a dot).
func defaultDomain(host string) string {
	_, rest, ok := strings.Cut(host, ".")
	if !ok || rest == "" {
		return "localdomain"
	}
	return rest
}

// interfaceAddrs lists the machine's addresses through f.InterfaceAddrs.
func (f *File) interfaceAddrs() ([]netip.Prefix, error) {
	if f.InterfaceAddrs != nil {
		return f.InterfaceAddrs()
	}
	return lookup.SystemInterfaceAddrs()
}

// defaultMynetworks follows mynetworks_style: "host" lists the machine's
// own addresses, "subnet" (and "class", approximated) their networks.
func (f *File) defaultMynetworks() string {
	prefixes, err := f.interfaceAddrs()
	if err != nil {
		f.warnf("%s: cannot list interface addresses for mynetworks: %v", f.name(), err)
		return "127.0.0.0/8 [::1]/128"
	}
	host := f.Get("mynetworks_style") == "host"
	protos := f.List("inet_protocols")
	v4 := slices.Contains(protos, "all") || slices.Contains(protos, "ipv4")
	v6 := slices.Contains(protos, "all") || slices.Contains(protos, "ipv6")
	var parts []string
	for _, p := range prefixes {
		a := p.Addr().WithZone("")
		if a.Is4() && !v4 || a.Is6() && !v6 {
			continue
		}
		if host {
			p = netip.PrefixFrom(a, a.BitLen())
		} else {
			p = netip.PrefixFrom(a, p.Bits()).Masked()
		}
		s := p.String()
		if p.Addr().Is6() {
			s = "[" + p.Addr().String() + "]/" + strconv.Itoa(p.Bits())
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}
