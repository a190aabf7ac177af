package cleanup

import "strings"

// masquerade is Postfix's cleanup_masquerade_external: an address whose
// domain is below one of masquerade_domains loses the subdomain
// ("user@host.example.com" with masquerade_domains = example.com gives
// "user@example.com"). The list is searched in order and the first
// domain that matches decides: a "!domain" entry, or a domain equal to
// the address's own, leaves the address as it is. An address whose
// localpart is one of masquerade_exceptions is left alone. Only the
// classes of masquerade_classes are masqueraded.
func (cl *Cleanup) masquerade(addr string, class Classes) string {
	if len(cl.c.MasqueradeDomains) == 0 || !cl.c.MasqueradeClasses.has(class, EnvelopeSender|HeaderSender|HeaderRecipient) {
		return addr
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local, domain := addr[:at], addr[at+1:]
	for _, e := range cl.c.MasqueradeExceptions {
		if strings.EqualFold(e, local) {
			return addr
		}
	}
	for _, m := range cl.c.MasqueradeDomains {
		keep := strings.HasPrefix(m, "!")
		m = strings.TrimPrefix(m, "!")
		switch {
		case m == "":
			continue
		case len(m) == len(domain):
			if strings.EqualFold(m, domain) {
				return addr
			}
		case len(m) < len(domain):
			parent := domain[len(domain)-len(m):]
			if domain[len(domain)-len(m)-1] == '.' && strings.EqualFold(m, parent) {
				if keep {
					return addr
				}
				return addr[:at+1] + strings.ToLower(m)
			}
		}
	}
	return addr
}
