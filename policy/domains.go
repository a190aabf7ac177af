package policy

import (
	"slices"

	"github.com/mxrelay/mxrelay/lookup"
)

// defaultParent reports whether a parameter is in Postfix 3.7's default
// parent_domain_matches_subdomains.
func defaultParent(param string) bool {
	switch param {
	case "debug_peer_list", "fast_flush_domains", "mynetworks", "permit_mx_backup_networks",
		"qmqpd_authorized_clients", "relay_domains", "smtpd_access_maps":
		return true
	}
	return false
}

func (p *Policy) isParent(param string) bool {
	pp := p.cfg.ParentDomainMatchesSubdomains
	if pp == nil {
		return defaultParent(param)
	}
	return slices.Contains(pp, param)
}

// buildDomains parses the domain lists and the interface addresses, when
// Config.Domains does not supply them. list records the first error.
func (p *Policy) buildDomains(list func(param, value string) *lookup.List) error {
	c := &p.cfg
	p.domains.MyDestination = list("mydestination", c.MyDestination)
	p.domains.VirtualAliasDomains = list("virtual_alias_domains", c.VirtualAliasDomains)
	p.domains.VirtualMailboxDomains = list("virtual_mailbox_domains", c.VirtualMailboxDomains)
	p.domains.RelayDomains = list("relay_domains", c.RelayDomains)
	inet := c.InetInterfaces
	if inet == "" {
		inet = "all"
	}
	for _, iv := range []struct{ param, value string }{{"inet_interfaces", inet}, {"proxy_interfaces", c.ProxyInterfaces}} {
		addrs, e := lookup.InterfaceAddrs(iv.value, lookup.SystemInterfaceAddrs)
		if e != nil {
			return &ConfigError{iv.param, e}
		}
		p.domains.Interfaces = append(p.domains.Interfaces, addrs...)
	}
	return nil
}

// findInetAddrs sets the addresses permit_inet_interfaces permits: this
// host's (Domains.Interfaces) less those of proxy_interfaces, as
// Postfix's own_inet_addr.
func (p *Policy) findInetAddrs() error {
	proxy, err := lookup.InterfaceAddrs(p.cfg.ProxyInterfaces, lookup.SystemInterfaceAddrs)
	if err != nil {
		return &ConfigError{"proxy_interfaces", err}
	}
	for _, a := range p.domains.Interfaces {
		if a = a.Unmap(); !slices.Contains(proxy, a) {
			p.inetAddrs = append(p.inetAddrs, a)
		}
	}
	return nil
}
