package policy

import (
	"context"
	"errors"
	"net/netip"
	"strings"
)

// NameStatus says how a client's name was found (Postfix's
// SMTPD_PEER_CODE_*).
type NameStatus int8

// The name statuses. The zero value means the name was not looked up: a
// Request with an empty ClientName then counts as NamePermanent, one
// with a name as NameOK.
const (
	NameUnchecked NameStatus = iota
	NameOK                   // found (and, for the verified name, forward-confirmed)
	NameTemporary            // DNS failed: try later
	NamePermanent            // no PTR record, or not a valid host name
	NameForged               // the PTR name does not resolve back to the address
)

// ClientNames are the names of a client, as Postfix's smtpd finds them
// once per session (smtpd_peer.c): Reverse is the PTR name, Name that
// name if its A (or AAAA) records include the address. "unknown" when
// there is none.
type ClientNames struct {
	Name, Reverse             string
	NameStatus, ReverseStatus NameStatus
}

// LookupClientNames looks up the client's names: its PTR record (the
// first whose name is a valid host name), then the name's addresses of
// the client's family, which must include the client's address. Without
// Config.DNS, or with SMTPDPeernameLookup = No, both names are "unknown"
// with NamePermanent. Give the result to every Request of the session
// (ClientName, ReverseClientName and their statuses).
func (p *Policy) LookupClientNames(ctx context.Context, addr netip.Addr, sess *Session) ClientNames {
	unknown := ClientNames{Name: "unknown", Reverse: "unknown", NameStatus: NamePermanent, ReverseStatus: NamePermanent}
	if p == nil || p.cfg.DNS == nil || p.cfg.SMTPDPeernameLookup == No || !addr.IsValid() {
		return unknown
	}
	s := state{p: p, req: &Request{Session: sess}}
	addr = addr.Unmap()
	rev := reversedAddr(addr) + ".in-addr.arpa"
	if addr.Is6() {
		rev = reversedAddr(addr) + ".ip6.arpa"
	}
	ptrs, err := s.dnsLookup(ctx, rev, TypePTR)
	name := ""
	for _, n := range ptrs {
		n = strings.TrimSuffix(n, ".")
		if n != "" && checkDomain(n, false) == "" && !validIPv4HostAddr(n) && isASCII(n) {
			name = strings.ToLower(n)
			break
		}
	}
	if name == "" {
		if err != nil && !errors.Is(err, ErrNoRecords) {
			unknown.NameStatus, unknown.ReverseStatus = NameTemporary, NameTemporary
			p.log.Info("client name lookup failed", "client", addr.String(), "err", err)
		}
		return unknown
	}
	names := ClientNames{Name: name, Reverse: name, NameStatus: NameOK, ReverseStatus: NameOK}
	t := TypeA
	if addr.Is6() {
		t = TypeAAAA
	}
	addrs, err := s.dnsLookup(ctx, name, t)
	for _, a := range addrs {
		if ip, e := netip.ParseAddr(a); e == nil && ip.Unmap() == addr {
			return names
		}
	}
	names.Name, names.NameStatus = "unknown", NameForged
	if err != nil && !errors.Is(err, ErrNoRecords) {
		names.NameStatus = NameTemporary
	}
	p.log.Info("hostname does not resolve to address", "name", name, "client", addr.String(), "err", err)
	return names
}

// nameStatus is a Request's status for a name, applying the zero value's
// meaning.
func nameStatus(st NameStatus, name string) NameStatus {
	if st != NameUnchecked {
		return st
	}
	if name == "" || strings.EqualFold(name, "unknown") {
		return NamePermanent
	}
	return NameOK
}

// unknownClient is reject_unknown_client_hostname (reject_unknown_client)
// and reject_unknown_reverse_client_hostname: unknown_client_reject_code
// for a name that is not there (or forged), 450 when DNS failed.
func (s *state) unknownClient(reverse bool, why Reason) status {
	st, dsn, what := nameStatus(s.req.ClientNameStatus, s.req.ClientName), "4.7.25", "hostname"
	if reverse {
		st, dsn, what = nameStatus(s.req.ReverseClientNameStatus, s.req.ReverseClientName), "4.7.1", "reverse hostname"
	}
	if st == NameOK {
		return dunno
	}
	code := s.p.unknownClientCode
	if st == NameTemporary {
		code = 450
	}
	return s.reject(errPolicy, code, dsn, "Client host rejected: cannot find your "+what+", ["+s.req.ClientAddr.Unmap().String()+"]", why)
}
