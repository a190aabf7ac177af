package policy

import (
	"context"
	"net/netip"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// access is check_{recipient,sender,client,helo}_access (access(5)).
func (s *state) access(ctx context.Context, st *step, list subject, why Reason) status {
	if st.server != nil {
		return s.serverAccess(ctx, st, why)
	}
	name := st.name
	if st.bare {
		if name = defaultAccess(list); name == "" {
			return s.serverError("specify one of (check_client_access, check_reverse_client_hostname_access, check_helo_access, " +
				"check_sender_access, check_recipient_access, check_etrn_access) before " + subjClass[list] + " restriction \"" + st.name + "\"")
		}
	}
	var kb [24]lookup.Key
	var keys []lookup.Key
	subj := subjRcpt
	switch name {
	case "check_recipient_access":
		if !s.hasRcpt {
			return dunno
		}
		keys = lookup.AppendAccessKeys(kb[:0], s.resolve(ctx).canon, s.p.access)
	case "check_sender_access":
		subj = subjSender
		if s.req.Stage < StageMail {
			return dunno
		}
		sender, ok := s.from()
		if !ok {
			return s.badSender()
		}
		if sender.IsNull() {
			keys = append(kb[:0], lookup.Key{Key: s.p.nullKey, Kind: lookup.KeyAddress})
		} else {
			canon, err := s.senderCanon(ctx)
			if err != nil {
				return s.lookupError(err, subjSender, why)
			}
			keys = lookup.AppendAccessKeys(kb[:0], canon, s.p.access)
		}
	case "check_client_access":
		subj = subjClient
		keys = clientKeys(kb[:0], s.req.ClientName, s.req.ClientAddr, s.p.parents)
	case "check_reverse_client_hostname_access":
		// The unverified name, then the address; OK is refused
		// (forbid_allowlist in smtpd_check.c; golden lab revclient).
		keys = clientKeys(kb[:0], s.req.ReverseClientName, s.req.ClientAddr, s.p.parents)
		res, _ := s.searchAccess(ctx, st, keys, subjRevClient, true, why)
		return s.forbidAllowlist(res, why)
	case "check_helo_access":
		subj = subjHelo
		if s.req.Helo == "" {
			return dunno
		}
		keys = heloKeys(kb[:0], s.req.Helo, s.p.parents)
	}
	status, _ := s.searchAccess(ctx, st, keys, subj, subj != subjRcpt && subj != subjSender, why)
	return status
}

// forbidAllowlist refuses an OK from a restriction that looks up names
// a client chooses (smtpd_check.c forbid_allowlist): "451 4.3.5 Server
// configuration error", since such an entry would let anyone in.
func (s *state) forbidAllowlist(st status, why Reason) status {
	if st != permitted || s.discard {
		return st
	}
	s.p.log.Warn("restriction returns OK, which is not allowed for security reasons: use DUNNO instead of OK to make an exception",
		"restriction", why.Restriction)
	return s.reject(errSoftware, 451, "4.3.5", "Server configuration error", why)
}

// searchAccess looks keys up in the step's table and evaluates the entry
// found (check_access, check_domain_access, check_addr_access in
// smtpd_check.c); found reports whether a key matched, so that a caller
// with more keys to try (check_namadr_access, check_server_access) stops
// at a DUNNO entry. A table failure is "451 4.3.5 ... Server
// configuration error", found.
//
// A regexp: or cidr: table gets only the complete forms: the address (not
// its domain, parents or localpart), and a name (client, HELO, MX host)
// when wholeDomain says the domain key is one (golden configuration
// regexp).
func (s *state) searchAccess(ctx context.Context, st *step, keys []lookup.Key, subj subject, wholeDomain bool, why Reason) (status, bool) {
	if st.pattern {
		full := keys[:0]
		for _, k := range keys {
			if k.Kind == lookup.KeyAddress || k.Kind == lookup.KeyDomain && wholeDomain {
				full = append(full, k)
			}
		}
		keys = full
	}
	if len(keys) == 0 {
		return dunno, false
	}
	r, found, err := lookup.Search(ctx, st.tables, keys)
	if err != nil {
		// Postfix answers any access table failure, temporary or not,
		// with "451 4.3.5 <name>: Class rejected: Server configuration
		// error" (checked with the oracle shim and a tcp: table).
		s.d.Err = err
		s.p.log.Warn("access table lookup problem", "restriction", why.Restriction, "table", st.arg, "err", err)
		why.Table = st.arg
		return s.reject(errSoftware, 451, "4.3.5", s.rejectText(subj, "Server configuration error"), why), true
	}
	if !found {
		return dunno, false
	}
	why.Table, why.Key, why.Value = st.arg, r.Key.Key, r.Value
	status := s.tableResult(ctx, r.Value, why, subj)
	if status == permitted && subj == subjRcpt && !s.p.cfg.AllowUntrustedRouting && s.resolve(ctx).routed {
		return dunno, true // "too suspicious" for OK: check_mail_access in smtpd_check.c (golden configuration routed)
	}
	return status, true
}

// senderCanon is the sender's form for check_sender_access: qualified
// with $myorigin, and, when it is local and its localpart routes
// elsewhere ("u@site"@local, site!u@local, u%site@local), resolved there,
// as Postfix looks up the resolved sender (golden configuration review3).
func (s *state) senderCanon(ctx context.Context) (string, error) {
	if strings.ContainsAny(s.sender.Local, "@!%") {
		var r resolution
		s.p.resolveAddr(ctx, &r, s.sender, s.req.SMTPUTF8)
		if r.err != nil {
			return "", r.err
		}
		if !r.bad {
			return r.canon, nil
		}
	}
	if s.sender.Domain == "" && s.p.myorig != "" {
		return s.sender.Local + "@" + s.p.myorig, nil
	}
	return s.sender.String(), nil
}

// clientKeys are check_client_access's keys: the host name and its
// parents, then the address and its shorter forms (192.0.2.1, 192.0.2,
// 192.0, 192). A client without a name is looked up as "unknown", as
// Postfix does (golden configuration misc).
func clientKeys(dst []lookup.Key, name string, ip netip.Addr, parents bool) []lookup.Key {
	if name == "" {
		name = "unknown"
	}
	dst = lookup.AppendDomainKeys(dst, name, parents)
	return addrKeys(dst, ip)
}

// addrKeys are an address and its networks, as check_addr_access splits
// it (192.0.2.1, 192.0.2, 192.0, 192; an IPv6 address at its colons).
func addrKeys(dst []lookup.Key, ip netip.Addr) []lookup.Key {
	if !ip.IsValid() {
		return dst
	}
	a := ip.Unmap().String()
	delim := byte('.')
	if ip.Unmap().Is6() {
		delim = ':'
	}
	for kind := lookup.KeyAddress; a != ""; kind = lookup.KeyParent {
		dst = append(dst, lookup.Key{Key: a, Kind: kind})
		i := strings.LastIndexByte(a, delim)
		if i < 0 {
			break
		}
		a = a[:i]
	}
	return dst
}

// heloKeys are check_helo_access's keys: the HELO name as sent and its
// parents. Unlike an address's domain, a trailing dot is kept and is part
// of every key ("a.example." looks up "a.example.", then "example."), as
// Postfix's check_domain_access does (golden configuration review2).
func heloKeys(dst []lookup.Key, helo string, parents bool) []lookup.Key {
	if strings.HasSuffix(helo, ".") {
		// AppendDomainKeys drops one trailing dot; give it two.
		return lookup.AppendDomainKeys(dst, helo+".", parents)
	}
	return lookup.AppendDomainKeys(dst, helo, parents)
}
