package relay

import (
	"context"
	"fmt"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/cleanup"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/transport"
)

// FilterConfig is the after-queue content filter (Postfix's FILTER_README):
// the message goes to the filter first, every recipient routed to the
// filter's transport and next hop instead of its own, and the filter
// sends what it passes back to a listener that has no content filter
// (master.cf's "-o content_filter=" service), from where it goes on as
// any message. The zero value filters nothing.
type FilterConfig struct {
	// ContentFilter is content_filter: "transport:nexthop", the filter
	// every message this server accepts goes to ("smtp-amavis:[127.0.0.1]:10024").
	// A FILTER action of an access table, header_checks or body_checks
	// names another for one message. Empty: none. A value without ":"
	// is ignored, as Postfix's cleanup ignores it (Load refuses it).
	ContentFilter string
	// DefaultNexthop is default_filter_nexthop: the next hop of a filter
	// that names none ("smtp-amavis:"). Empty, as Postfix's default: the
	// recipient's domain, or Hostname for a recipient without one.
	DefaultNexthop string
}

// filterConfig reads content_filter and default_filter_nexthop. A filter
// whose transport this relay cannot deliver to (not smtp, lmtp, nor a
// master.cf service running them: a pipe(8) filter) is refused, since
// its mail would wait in the queue until it expires. The "-o" overrides
// of the filter's master.cf service apply to its deliveries
// (serviceClients).
func filterConfig(r *reader, delivers func(string) bool) (FilterConfig, error) {
	c := FilterConfig{ContentFilter: r.str("content_filter"), DefaultNexthop: r.str("default_filter_nexthop")}
	if c.ContentFilter == "" {
		return c, nil
	}
	tr, _, ok := strings.Cut(c.ContentFilter, ":")
	switch {
	case !ok:
		return c, &maincf.ValueError{Param: "content_filter", Value: c.ContentFilter,
			Reason: "not transport:destination (Postfix ignores it and relays the mail unfiltered)"}
	case !delivers(tr):
		return c, &maincf.ValueError{Param: "content_filter", Value: c.ContentFilter,
			Reason: "transport " + tr + " is neither smtp, lmtp nor a master.cf unix service running smtp or lmtp; only SMTP and LMTP content filters are implemented"}
	}
	return c, nil
}

// filterRoute is where a recipient of a message with a content filter
// goes, as Postfix's qmgr_message_resolve: the filter's transport and
// next hop, without the address resolver (no transport_maps,
// relayhost or address class); a filter without a next hop goes to
// default_filter_nexthop, else the recipient's domain, else $myhostname.
func (r *MX) filterRoute(filter, rcpt string) transport.Route {
	tr, nexthop, _ := strings.Cut(filter, ":")
	if nexthop == "" {
		nexthop = r.c.Filter.DefaultNexthop
	}
	if nexthop == "" {
		if at := strings.LastIndexByte(rcpt, '@'); at >= 0 && at < len(rcpt)-1 {
			nexthop = rcpt[at+1:]
		} else {
			nexthop = r.c.Hostname
		}
	}
	return transport.Route{Recipient: rcpt, Transport: tr, Nexthop: nexthop}
}

// route is where delivery sends one recipient of env: its content
// filter when the message has one, else the router's answer.
func (r *MX) route(ctx context.Context, env *queue.Envelope, rcpt string) (transport.Route, error) {
	if env.Filter != "" {
		return r.filterRoute(env.Filter, rcpt), nil
	}
	return r.c.Router.Route(ctx, rcpt)
}

// setFilter gives a message about to be queued its content filter, as
// Postfix's smtpd and cleanup write the queue file's FILTER record:
// content_filter, unless an access table's FILTER action (the last one of
// the transaction) names another, unless header_checks or body_checks
// do (the last FILTER action in the message): golden lab filter, cases
// afilter, twoaccess, ahfilter and hfilter. A message that is redirected
// (REDIRECT, v.Redirect) has no filter: Postfix's qmgr routes the
// redirect address as any (golden lab accessfilter). Every recipient's
// destination is then the filter's, so that the queue limits and
// suspends the filter as one destination (qmgr's queue per transport
// and next hop).
func (s *session) setFilter(env *queue.Envelope, v cleanup.Verdict) {
	if v.Redirect != "" {
		return
	}
	f := s.r.c.Filter.ContentFilter
	if !strings.Contains(f, ":") {
		f = ""
	}
	for _, g := range []string{s.filter, v.Filter} {
		if g != "" {
			f = g
		}
	}
	if f == "" {
		return
	}
	s.r.giveFilter(env, f)
}

// giveFilter sets env's content filter to f and gives each pending
// recipient the filter's destination; without a filter (f empty), the
// recipient domain, since no route may be looked up where it is called
// (refilter), and delivery looks it up anyway.
func (r *MX) giveFilter(env *queue.Envelope, f string) {
	env.Filter = f
	for i := range env.Recipients {
		rc := &env.Recipients[i]
		switch {
		case !rc.State.Pending():
		case f == "":
			rc.Destination = ""
		default:
			rt := r.filterRoute(f, rc.Address)
			rc.Destination = rt.Transport + ":" + strings.ToLower(rt.Nexthop)
		}
	}
}

// refilter gives a message requeued with postsuper -r
// (queue.Config.Requeued) the content filter it would get now, as
// Postfix's pickup and cleanup do with the message postsuper -r sends
// them: its filter is dropped and content_filter applies (a message the
// filter already passed goes through it again, as in Postfix).
func (r *MX) refilter(env *queue.Envelope) {
	f := r.c.Filter.ContentFilter
	if !strings.Contains(f, ":") {
		f = ""
	}
	if env.Filter != f {
		r.giveFilter(env, f)
	}
}

// receiveOverrides is receive_override_options (Postfix's input_transp.c):
// what a listener skips, typically the reinjection listener of a content
// filter, whose mail was checked and rewritten before the filter.
type receiveOverrides struct {
	noUnknownRecipientChecks bool // no_unknown_recipient_checks: reject_unlisted_recipient and reject_unlisted_sender
	noAddressMappings        bool // no_address_mappings: canonical and virtual alias maps, masquerading, automatic BCC
	noHeaderBodyChecks       bool // no_header_body_checks: header_checks, body_checks and their MIME kin
	noMilters                bool // no_milters
}

// readReceiveOverrides reads receive_override_options; an unknown option
// is an error, as Postfix's name_mask makes it fatal.
func readReceiveOverrides(r *reader) (receiveOverrides, error) {
	var o receiveOverrides
	for _, opt := range lookup.SplitList(r.str("receive_override_options")) {
		switch strings.ToLower(opt) {
		case "no_unknown_recipient_checks":
			o.noUnknownRecipientChecks = true
		case "no_address_mappings":
			o.noAddressMappings = true
		case "no_header_body_checks":
			o.noHeaderBodyChecks = true
		case "no_milters":
			o.noMilters = true
		default:
			return o, &maincf.ValueError{Param: "receive_override_options", Value: r.str("receive_override_options"),
				Reason: fmt.Sprintf("unknown option %q (no_unknown_recipient_checks, no_address_mappings, no_header_body_checks, no_milters)", opt)}
		}
	}
	return o, nil
}

// apply drops from a cleanup configuration what the options turn off.
func (o receiveOverrides) apply(c *cleanup.Config) {
	if o.noAddressMappings {
		c.Canonical, c.SenderCanonical, c.RecipientCanonical, c.VirtualAlias = nil, nil, nil, nil
		c.SenderBcc, c.RecipientBcc, c.AlwaysBcc, c.MasqueradeDomains = nil, nil, "", nil
	}
	if o.noHeaderBodyChecks {
		c.HeaderChecks, c.BodyChecks, c.MIMEHeaderChecks, c.NestedHeaderChecks = nil, nil, nil, nil
	}
}

// deliveryProtocols are the transports the delivery agent speaks: smtp,
// relay and lmtp as in Postfix's stock master.cf, and every unix service
// of the master.cf beside main.cf that runs smtp or lmtp (a content
// filter's "smtp-amavis"). Nil without such services: the agent's
// defaults.
func deliveryProtocols(cf *maincf.File) map[string]transport.Protocol {
	services := cf.Transports()
	if len(services) == 0 {
		return nil
	}
	out := map[string]transport.Protocol{"smtp": transport.SMTP, "relay": transport.SMTP, "lmtp": transport.LMTP}
	for name, cmd := range services {
		out[name] = transport.SMTP
		if cmd == "lmtp" {
			out[name] = transport.LMTP
		}
	}
	return out
}
