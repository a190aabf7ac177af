package policy

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// permitMXBackup is permit_mx_backup (smtpd_check.c): it permits a
// recipient whose domain this server is a backup MX for: an MX host of
// a worse preference than the best is this host (by name in
// mydestination, else by address: inet_interfaces or proxy_interfaces),
// and no best-preference MX host is. With permit_mx_backup_networks,
// every address of every best-preference MX host must also be in it.
// A local, alias, virtual or relay domain is permitted as
// permit_auth_destination permits it; address literals and
// source-routed recipients are not. DNS failures are remembered as a
// defer_if_reject 450 4.4.4 (a later rejection becomes that deferral);
// they never permit. Golden lab mxbackup, mxbackup_networks.
func (s *state) permitMXBackup(ctx context.Context, why Reason) status {
	if !s.hasRcpt {
		return dunno
	}
	r := s.resolve(ctx)
	if r.err != nil {
		return s.lookupError(r.err, subjRcpt, why)
	}
	if r.domain == "" {
		return s.permit(why)
	}
	if !s.p.cfg.AllowUntrustedRouting && r.routed {
		return dunno
	}
	if r.class != lookup.ClassDefault {
		return s.permit(why)
	}
	if strings.HasPrefix(r.domain, "[") {
		return dunno
	}
	defer s.dnsBudget()()
	rrs, err := s.dnsLookup(ctx, r.domain, TypeMX)
	if err != nil {
		if !errors.Is(err, ErrNoRecords) {
			s.mxDefer("Unable to look up mail exchanger information: Host not found, try again", err, why)
		}
		return dunno
	}
	mxs := parseMXs(rrs)
	if len(mxs) == 0 || isNullMX(mxs) {
		return dunno // Postfix does not special-case a null MX: not a backup
	}
	if len(mxs) > maxServerHosts {
		mxs = mxs[:maxServerHosts]
	}
	best := 1
	for best < len(mxs) && mxs[best].pref == mxs[0].pref {
		best++
	}
	primaries, backups := mxs[:best], mxs[best:]
	if s.iAmMX(ctx, primaries, why) {
		return dunno
	}
	if len(backups) == 0 || !s.iAmMX(ctx, backups, why) {
		return dunno
	}
	if s.p.mxNets != nil {
		for _, m := range primaries {
			if !s.allAuthMXAddr(ctx, m.host, why) {
				return dunno
			}
		}
	}
	return s.permit(why)
}

// iAmMX is smtpd_check.c i_am_mx: a host name in mydestination, else
// (after all names) a host address that is one of ours.
func (s *state) iAmMX(ctx context.Context, mxs []mx, why Reason) bool {
	for _, m := range mxs {
		if ok, err := s.p.domains.MyDestination.MatchDomain(ctx, m.host); err == nil && ok {
			return true
		}
	}
	for _, m := range mxs {
		addrs, err := s.hostAddrs(ctx, m.host)
		if err != nil {
			s.mxDefer("Unable to look up mail exchanger host "+m.host+": "+gaiError(err), err, why)
			continue
		}
		for _, a := range addrs {
			if s.isMyAddr(a) {
				return true
			}
		}
	}
	return false
}

// isMyAddr reports an address of inet_interfaces or proxy_interfaces.
func (s *state) isMyAddr(a netip.Addr) bool {
	for _, m := range s.p.domains.Interfaces {
		if m.Unmap() == a.Unmap() {
			return true
		}
	}
	return false
}

// allAuthMXAddr is smtpd_check.c all_auth_mx_addr: every address of a
// primary MX host is in permit_mx_backup_networks (which matches the
// host's name too, as mynetworks would).
func (s *state) allAuthMXAddr(ctx context.Context, host string, why Reason) bool {
	addrs, err := s.hostAddrs(ctx, host)
	if err != nil {
		s.mxDefer("Unable to look up host "+host+" as mail exchanger: "+dnsError(err), err, why)
		return false
	}
	for _, a := range addrs {
		ok, err := s.p.mxNets.MatchClient(ctx, a, host)
		if err != nil {
			s.p.log.Warn("permit_mx_backup_networks lookup error", "host", host, "addr", a.String(), "err", err)
			s.mxDefer("Unable to verify host "+host+" as mail exchanger", err, why)
			return false
		}
		if !ok {
			return false
		}
	}
	return true
}

// mxDefer remembers a permit_mx_backup DNS failure as defer_if_reject:
// 450 4.4.4 "<rcpt>: Recipient address rejected: text".
func (s *state) mxDefer(text string, err error, why Reason) {
	s.p.log.Info("permit_mx_backup: "+text, "err", err)
	s.deferIf(&s.dir, errPolicy, 450, "4.4.4", s.rejectText(subjRcpt, text), why)
}

// gaiError is the getaddrinfo message Postfix shows for a failed host
// address lookup (gai_strerror, glibc's texts).
func gaiError(err error) string {
	switch {
	case errors.Is(err, ErrNoSuchName):
		return "Name or service not known"
	case errors.Is(err, ErrNoRecords):
		return "No address associated with hostname"
	}
	return "Temporary failure in name resolution"
}

// dnsError is the resolver message Postfix shows for a failed DNS
// lookup (dns_strerror).
func dnsError(err error) string {
	switch {
	case errors.Is(err, ErrNoSuchName):
		return "Host not found"
	case errors.Is(err, ErrNoRecords):
		return "Host found but no data record of requested type"
	}
	return "Host not found, try again"
}
