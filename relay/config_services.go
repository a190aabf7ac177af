package relay

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/transport"
	"github.com/mxrelay/mxrelay/transport/client"
)

// clientConfig builds the configuration of the SMTP client (proto
// "smtp") or the LMTP client ("lmtp") from r, as Postfix's smtp(8) reads
// its smtp_* or lmtp_* parameters: the HELO/LHLO name
// (smtp_helo_name, lmtp_lhlo_name), XFORWARD (smtp_send_xforward_command)
// and the per-stage timeouts (smtp_connect_timeout ... smtp_quit_timeout).
func clientConfig(r *reader, proto string, dialer client.Dialer, log *slog.Logger) client.Config {
	helo, heloTimeout := "smtp_helo_name", "smtp_helo_timeout"
	if proto == "lmtp" {
		helo, heloTimeout = "lmtp_lhlo_name", "lmtp_lhlo_timeout"
	}
	p := proto + "_"
	return client.Config{
		Hostname:   r.str(helo),
		MyHostname: r.str("myhostname"),
		XForward:   r.bool(p + "send_xforward_command"),
		Timeouts: client.Timeouts{
			Connect:  r.duration(p + "connect_timeout"),
			Helo:     r.duration(heloTimeout),
			StartTLS: r.duration(p + "starttls_timeout"),
			XForward: r.duration(p + "xforward_timeout"),
			Rset:     r.duration(p + "rset_timeout"),
			Mail:     r.duration(p + "mail_timeout"),
			Rcpt:     r.duration(p + "rcpt_timeout"),
			DataInit: r.duration(p + "data_init_timeout"),
			DataXfer: r.duration(p + "data_xfer_timeout"),
			DataDone: r.duration(p + "data_done_timeout"),
			Quit:     r.duration(p + "quit_timeout"),
		},
		Dialer: dialer,
		Logger: log,
	}
}

// sameClient reports whether two client configurations of clientConfig
// behave alike.
func sameClient(a, b client.Config) bool {
	return a.Hostname == b.Hostname && a.MyHostname == b.MyHostname && a.XForward == b.XForward && a.Timeouts == b.Timeouts
}

// perService are the parameters a master.cf delivery service's "-o"
// overrides change for its own deliveries: the client's (clientConfig)
// and the STARTTLS policy's (clientTLS). An override of another
// parameter that delivery reads is refused (serviceOverrides).
func perService(name string) bool {
	switch name {
	case "smtp_tls_security_level", "smtp_tls_policy_maps", "smtp_tls_CAfile", "smtp_helo_name", "lmtp_lhlo_name":
		return true
	}
	for _, p := range []string{"smtp_", "lmtp_"} {
		if n, ok := strings.CutPrefix(name, p); ok && (n == "send_xforward_command" || strings.HasSuffix(n, "_timeout") && n != "tls_session_cache_timeout") {
			return true
		}
	}
	return false
}

// services is what the master.cf delivery services with their own
// settings add to delivery: a client per service, and a STARTTLS policy
// per service whose overrides change it.
type services struct {
	senders map[string]transport.Sender
	tls     map[string]transport.TLSPolicies
	clients []*client.Client // to close
}

func (s *services) close() {
	for _, c := range s.clients {
		c.Close()
	}
}

// serviceClients builds, for each master.cf unix service that runs smtp
// or lmtp (maincf.File.Transports), the client its deliveries use when
// it differs from main's: main.cf with the service's "-o" overrides, as
// Postfix's master(8) runs smtp(8) for it ("smtp-amavis unix - - n - 2
// smtp -o smtp_send_xforward_command=yes -o smtp_data_done_timeout=1200"),
// and for the stock lmtp transport its lmtp_* settings. Built once, at
// load.
//
// An override that turns on a feature mxrelay does not implement is
// refused by name, as in main.cf (maincf.Unimplemented), unless accepted
// names it; one of a delivery parameter that is not applied per service
// (smtp_mx_session_limit, smtp_fallback_relay...) is refused when its
// value differs from main.cf's; an unknown one is a warning; the others
// (max_use, syslog_name, smtpd_* settings) are ignored, as smtp(8) does.
// disable_dns_lookups = yes is accepted on the content filter's service
// when the filter's next hop is an address literal: Postfix then looks
// no host up either.
func serviceClients(r *reader, main client.Config, open func(string) (lookup.Table, error), accepted []string, warn func(string)) (*services, error) {
	out := &services{senders: map[string]transport.Sender{}, tls: map[string]transport.TLSPolicies{}}
	var refused []maincf.Param
	transports := r.cf.Transports()
	if transports == nil {
		transports = map[string]string{}
	}
	if _, ok := transports["lmtp"]; !ok {
		transports["lmtp"] = "lmtp" // the stock lmtp transport, with or without master.cf
	}
	for _, name := range sortedKeys(transports) {
		proto := transports[name]
		var ovs []maincf.Override
		for _, o := range r.cf.TransportOverrides(name) {
			if o.Name != "syslog_name" {
				ovs = append(ovs, o)
			}
		}
		g := &reader{cf: r.cf}
		if len(ovs) > 0 {
			g.cf = r.cf.WithOverrides(ovs)
		}
		tlsChanged := false
		for _, p := range g.cf.Classify() {
			if !slices.ContainsFunc(ovs, func(o maincf.Override) bool { return o.Name == p.Name }) {
				continue
			}
			switch {
			case p.Kind == maincf.Unimplemented && noDNSHarmless(r, name, p.Name):
				warn(fmt.Sprintf("master.cf service %s: -o %s=%s: no host is looked up for the content filter's address literal; a transport_maps route to %s with a host name would be looked up in DNS", name, p.Name, p.Value, name))
			case p.Kind == maincf.Unimplemented:
				if !slices.Contains(accepted, p.Name) && !slices.Contains(accepted, "all") {
					refused = append(refused, p)
				}
			case p.Kind == maincf.Unknown:
				warn(fmt.Sprintf("master.cf service %s: -o %s: unused parameter: Postfix does not know it", name, p.Name))
			case perService(p.Name):
				tlsChanged = tlsChanged || strings.HasPrefix(p.Name, "smtp_tls_")
			case p.Kind == maincf.Used && (p.User == maincf.UserTransport || deliveryChecks(p.Name)) && p.Value != r.cf.Get(p.Name):
				mainValue := r.cf.Get(p.Name)
				if mainValue == "" {
					mainValue = "(empty)"
				}
				p.Reason = "master.cf service " + name + ": this -o override is not applied per service: its deliveries would use main.cf's " + mainValue
				p.Kind = maincf.Unimplemented
				if !slices.Contains(accepted, p.Name) && !slices.Contains(accepted, "all") {
					refused = append(refused, p)
				}
			}
		}
		cfg := clientConfig(g, proto, main.Dialer, main.Logger)
		if err := g.err(); err != nil {
			out.close()
			return nil, fmt.Errorf("relay: master.cf service %s: %w", name, err)
		}
		if !sameClient(cfg, main) {
			c, err := client.New(cfg)
			if err != nil {
				out.close()
				return nil, fmt.Errorf("relay: master.cf service %s: %w", name, err)
			}
			out.clients = append(out.clients, c)
			out.senders[name] = c
		}
		if tlsChanged {
			pol, err := clientTLS(g, open)
			if err != nil {
				out.close()
				return nil, fmt.Errorf("relay: master.cf service %s: %w", name, err)
			}
			out.tls[name] = pol
		}
	}
	if len(refused) > 0 {
		out.close()
		return nil, &maincf.UnimplementedError{File: "master.cf (-o overrides of delivery services)", Params: refused}
	}
	return out, nil
}

// noDNSHarmless reports whether a service's override that turns DNS off
// (disable_dns_lookups, smtp_dns_support_level = disabled,
// smtp_host_lookup = native) changes nothing here: the service is the
// content filter's and the filter's next hop is an address literal
// ("[127.0.0.1]:10024"), which no lookup resolves.
func noDNSHarmless(r *reader, service, param string) bool {
	switch param {
	case "disable_dns_lookups", "smtp_dns_support_level", "smtp_host_lookup", "lmtp_host_lookup":
	default:
		return false
	}
	tr, nexthop, ok := strings.Cut(r.str("content_filter"), ":")
	if !ok || tr != service {
		return false
	}
	if nexthop == "" {
		nexthop = r.str("default_filter_nexthop")
	}
	n, err := transport.ParseNexthop(nexthop)
	if err != nil || len(n.Hops) == 0 {
		return false
	}
	for _, h := range n.Hops {
		if h.Network == "unix" {
			continue
		}
		if _, err := netip.ParseAddr(strings.TrimPrefix(h.Host, "ipv6:")); err != nil {
			return false
		}
	}
	return true
}

// serviceTLS chooses the STARTTLS policy of a route by its transport: a
// service's own (its smtp_tls_* overrides), else main.cf's.
type serviceTLS struct {
	main transport.TLSPolicies
	by   map[string]transport.TLSPolicies
}

// TLSPolicy implements transport.TLSPolicies.
func (s serviceTLS) TLSPolicy(ctx context.Context, r transport.Route, hop transport.Hop) (transport.TLSPolicy, error) {
	if p := s.by[r.Transport]; p != nil {
		return p.TLSPolicy(ctx, r, hop)
	}
	return s.main.TLSPolicy(ctx, r, hop)
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// deliveryChecks reports whether name is one of smtp(8)'s content checks
// (smtp_header_checks, lmtp_body_checks...): they are read from main.cf
// only, so an override on a delivery service is refused, not ignored.
func deliveryChecks(name string) bool {
	return (strings.HasPrefix(name, "smtp_") || strings.HasPrefix(name, "lmtp_")) && strings.HasSuffix(name, "_checks")
}
