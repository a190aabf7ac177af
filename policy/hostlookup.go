package policy

import (
	"context"
	"errors"
)

// unknownHelo is reject_unknown_helo_hostname (reject_unknown_hostname
// before Postfix 2.3): the HELO name must have an A, AAAA or MX record
// (a null MX counts: smtpd_check.c lets MTA names have one). An address
// literal is checked as reject_invalid_helo_hostname checks it. "Host
// not found" is unknown_hostname_reject_code (450) 4.7.1; a DNS failure
// is a defer_if_permit 450 4.7.1, or an immediate 450 with
// unknown_helo_hostname_tempfail_action = defer (golden lab unknownhelo).
func (s *state) unknownHelo(ctx context.Context, why Reason) status {
	h := s.req.Helo
	if h == "" {
		return dunno
	}
	if h[0] == '[' {
		return s.invalidHelo(why)
	}
	found, err := s.hasHostRecords(ctx, h)
	switch {
	case found:
		return dunno
	case err != nil:
		return s.tempfail(err, s.p.heloTempfailDefer, errPolicy, 450, "4.7.1", s.rejectText(subjHelo, "Host not found"), why)
	}
	return s.reject(errPolicy, s.p.unknownNameCode, "4.7.1", s.rejectText(subjHelo, "Host not found"), why)
}

// hasHostRecords asks A, AAAA, then MX, stopping at the first that has
// records. err is the first temporary failure when none has.
func (s *state) hasHostRecords(ctx context.Context, name string) (bool, error) {
	var soft error
	for _, t := range [...]RRType{TypeA, TypeAAAA, TypeMX} {
		rrs, err := s.dnsLookup(ctx, name, t)
		switch {
		case err == nil && len(rrs) > 0:
			return true, nil
		case err != nil && !errors.Is(err, ErrNoRecords) && soft == nil:
			soft = err
		}
	}
	return false, soft
}
