package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/policy/msgauth"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/cleanup"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/transport"
	"github.com/mxrelay/mxrelay/transport/client"
)

// LoadOptions completes a main.cf with what a main.cf does not say.
type LoadOptions struct {
	// Queue stores the mail: a *queue.Spool for a daemon, a
	// *queue.Memory for tests. Required.
	Queue queue.Queue
	// Listen are the addresses the SMTP server listens on. With
	// inet_interfaces and proxy_interfaces they are "my addresses" for
	// the MX loop check (Postfix's smtp_addr.c) and the local "[ip]"
	// literals. Unspecified addresses (0.0.0.0, ::) add every interface
	// address.
	Listen []netip.Addr
	// DNS are "host:port" resolvers used for every DNS query. Empty: the
	// nameservers of /etc/resolv.conf.
	DNS []string
	// Tables supplies tables by spec: a "type:name" in any parameter that
	// is a key here uses this table instead of opening one (Go tables,
	// SQL or HTTP backed recipient lists); the tables of
	// maincf.File.SetTable are added. They receive keys folded to
	// lower case, as Postfix gives keys to its fixed-key tables
	// (lookup.Folded), and each lookup is bounded by LookupTimeout.
	Tables map[string]lookup.Table
	// Types are the table types the program links in beyond lookup's
	// built-ins, by type name: the driver types of the nested modules
	// ({"pgsql": pgsql.Open}, github.com/mxrelay/mxrelay/lookup/pgsql)
	// or types of your own. A table type neither built in nor given
	// here is refused when the main.cf is loaded, with an error that
	// names it. Tables of these types are bounded by LookupTimeout.
	Types map[string]lookup.OpenFunc
	// LookupTimeout bounds each lookup of Tables (lookup.Bounded): a
	// stalled backend delays only the lookups that need it, which then
	// answer "451 4.3.0" at RCPT or defer in delivery. Default
	// lookup.DefaultLookupTimeout (10s); negative: no bound.
	LookupTimeout time.Duration
	// Dialer opens the client's connections. Nil: net.Dialer.
	Dialer client.Dialer
	// Logger receives everything. Nil discards.
	Logger *slog.Logger
	// Observer receives events for metrics. Nil: none.
	Observer Observer
	// Workers is the number of delivery workers. Default: main.cf's
	// default_process_limit, whose Postfix default is DefaultWorkers (100),
	// the default of Config.Workers too.
	Workers int
	// InterfaceAddrs lists the machine's addresses for inet_interfaces =
	// all and the mynetworks default. Nil: the main.cf's InterfaceAddrs,
	// else net.InterfaceAddrs.
	InterfaceAddrs func() ([]netip.Prefix, error)
	// AcceptUnimplemented names the parameters of maincf.Unimplemented
	// kind that the caller accepts are not honoured ("all": every one).
	// Load refuses a main.cf that sets any other one, because mail would
	// not flow as Postfix lets it (maincf.UnimplementedError).
	AcceptUnimplemented []string
	// VerifyCache is the file that keeps address verification's answers
	// across restarts (Postfix's address_verify_map); mxrelayd puts it
	// in its queue directory. Empty: in memory only.
	VerifyCache string
	// AuthDecide, with mxrelay_message_authentication = yes, decides
	// each message from its authentication results (msgauth.Config's
	// Decide) instead of mxrelay_dmarc_reject_action and
	// mxrelay_dmarc_quarantine_action.
	AuthDecide func(ctx context.Context, r *msgauth.Results) msgauth.Action
	// Scheduler, when set, is the queue the relay stores into instead of
	// a scheduler of its own, and the relay delivers nothing
	// (ServerConfig.NoDelivery): a master.cf listener with "-o"
	// overrides receives with its own configuration, as Postfix's smtpd
	// does, while the relay of main.cf delivers, as Postfix's qmgr and
	// smtp do. Queue is then ignored.
	Scheduler *queue.Scheduler
}

// Loaded is a relay assembled from a main.cf, with what was noticed on
// the way.
type Loaded struct {
	// MX is the relay: its SMTP backend and delivery loop.
	MX *MX
	// Policy is the relay's policy; Close it after the relay stops.
	Policy *policy.Policy
	// Client is the SMTP client; Close it after the relay stops.
	Client *client.Client
	// Warnings are the main.cf warnings and the configuration traps: what
	// works, but probably not as intended.
	Warnings []string
	// Params are the parameters main.cf sets, sorted into used, ignored,
	// not implemented (accepted with AcceptUnimplemented) and unknown.
	Params []maincf.Param
	// MyAddresses are the addresses the relay considers its own.
	MyAddresses []netip.Addr
	// Server is a ServerConfig for MX with main.cf's smtpd_banner,
	// smtpd_timeout, smtpd_client_connection_count_limit and STARTTLS
	// certificate: pass it to NewServer.
	Server ServerConfig
	// Verifier probes addresses for reject_unverified_recipient and
	// reject_unverified_sender; Close stops its probes.
	Verifier *Verifier

	services *services // the clients of master.cf delivery services
}

// Close releases the policy server connections and the client's idle
// connections.
func (l *Loaded) Close() error {
	if l.Verifier != nil {
		l.Verifier.Close()
	}
	if l.Client != nil {
		l.Client.Close()
	}
	if l.services != nil {
		l.services.close()
	}
	if l.Policy == nil {
		return nil
	}
	return l.Policy.Close()
}

// Load assembles a relay from a main.cf: policy (smtpd restrictions and
// recipient checks), transport (address classes, transport_maps,
// relay_transport, relayhost, MX resolution with this host's addresses),
// the queue scheduler (backoff and lifetimes) and the SMTP limits. Each
// part gets a typed configuration built once from the one main.cf reader.
//
// A main.cf that turns on a Postfix feature mxrelay does not implement
// (header_checks, content_filter, smtpd_milters...) is refused with
// a *maincf.UnimplementedError naming each parameter, unless
// o.AcceptUnimplemented names it.
//
// A main.cf without compatibility_level gets Postfix's backwards
// compatible defaults (relay_domains = $mydestination,
// smtpd_relay_restrictions empty), exactly as Postfix 3.7 does, with a
// warning; write "compatibility_level = 3.6" as Debian's main.cf does.
func Load(ctx context.Context, cf *maincf.File, o LoadOptions) (*Loaded, error) {
	if cf == nil {
		return nil, errors.New("relay: Load needs a main.cf, and got nil: maincf.Parse, maincf.Load, or a &maincf.File{} on which you Set compatibility_level = 3.6 and the rest")
	}
	if o.Queue == nil && o.Scheduler == nil {
		return nil, errors.New("relay: LoadOptions.Queue is required")
	}
	if cf.InterfaceAddrs == nil {
		cf.InterfaceAddrs = o.InterfaceAddrs
	}
	if ct := cf.Tables(); len(ct) > 0 { // maincf.File.SetTable
		tables := make(map[string]lookup.Table, len(ct)+len(o.Tables))
		maps.Copy(tables, ct)
		maps.Copy(tables, o.Tables) // LoadOptions.Tables wins
		o.Tables = tables
	}
	out := &Loaded{Params: cf.Classify()}
	if err := cf.Refuse(out.Params, o.AcceptUnimplemented); err != nil {
		return nil, err
	}
	if !cf.IsSet("compatibility_level") {
		out.warn("compatibility_level is not set: Postfix's backwards-compatible defaults apply (relay_domains = $mydestination, smtpd_relay_restrictions empty); set compatibility_level = 3.6")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &reader{cf: cf}
	if err := out.assemble(ctx, r, o, log); err != nil {
		out.Close()
		return nil, compatibilityCause(cf, err)
	}
	out.Warnings = append(out.Warnings, cf.Warnings()...)
	return out, nil
}

// compatibilityCause names the real cause when the open-relay guard
// refuses a main.cf only because it sets no compatibility_level (the zero
// maincf.File, or a file written for Postfix before 2.10): Postfix's
// backwards-compatible smtpd_relay_restrictions is empty then, and the
// default smtpd_recipient_restrictions is empty too.
func compatibilityCause(cf *maincf.File, err error) error {
	var ce *policy.ConfigError
	if !errors.As(err, &ce) || ce.Param != "smtpd_relay_restrictions" || cf.IsSet("smtpd_relay_restrictions") {
		return err
	}
	if level := strings.TrimSpace(cf.Get("compatibility_level")); level != "" && level != "0" {
		return err
	}
	return fmt.Errorf("relay: compatibility_level is not set, so Postfix's backwards-compatible defaults apply and smtpd_relay_restrictions is empty, which would make an open relay; "+
		"set compatibility_level = 3.6 (cf.Set(\"compatibility_level\", \"3.6\") for a maincf.File made in Go), or set smtpd_relay_restrictions: %w", err)
}

// linkedTypes are the table types of LoadOptions.Types, and those that
// reach the tables of LoadOptions.Tables (which win for their own type).
func linkedTypes(types map[string]lookup.OpenFunc, tables map[string]lookup.Table) map[string]lookup.OpenFunc {
	user := tableTypes(tables)
	if len(types) == 0 {
		return user
	}
	out := maps.Clone(types)
	for typ, open := range user {
		if linked := types[typ]; linked != nil {
			open = func(ctx context.Context, name string, o *lookup.OpenOptions) (lookup.Table, error) {
				if t, ok := tables[typ+":"+name]; ok {
					return t, nil
				}
				return linked(ctx, name, o)
			}
		}
		out[typ] = open
	}
	return out
}

func (l *Loaded) warn(w string) { l.Warnings = append(l.Warnings, w) }

// assemble builds the parts in dependency order: addresses and domain
// lists, routing, DNS and delivery, policy, queue, SMTP server.
func (l *Loaded) assemble(ctx context.Context, r *reader, o LoadOptions, log *slog.Logger) error {
	mine, warns, err := myAddresses(r.cf, o)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	l.MyAddresses = mine
	l.Warnings = append(l.Warnings, warns...)

	openOpts := &lookup.OpenOptions{Logger: log, Types: linkedTypes(o.Types, o.Tables), LookupTimeout: o.LookupTimeout}
	open := func(spec string) (lookup.Table, error) {
		spec = strings.TrimPrefix(spec, "proxy:")
		if t, ok := o.Tables[spec]; ok {
			return openOpts.UserTable(t), nil
		}
		return lookup.Open(ctx, spec, openOpts)
	}
	domains, err := domainLists(ctx, r, mine, openOpts, l.warn)
	if err != nil {
		return err
	}
	rc, err := routerConfig(ctx, r, domains, open, l.warn)
	if err != nil {
		return err
	}
	router, err := transport.NewRouter(rc)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}

	// One DNS client for smtpd's checks and for delivery, as Postfix's
	// processes share the system resolver.
	dns, err := transport.NewDNS(transport.DNSConfig{Servers: o.DNS, Cache: true, Logger: log})
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	// Delivery (smtp), built before the policy so that RCPT can refuse
	// what the Agent could never deliver (routes).
	mainClient := clientConfig(r, "smtp", o.Dialer, log)
	l.Client, err = client.New(mainClient)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	var tlsPolicies transport.TLSPolicies
	if tlsPolicies, err = clientTLS(r, open); err != nil {
		return err
	}
	if l.services, err = serviceClients(r, mainClient, open, o.AcceptUnimplemented, l.warn); err != nil {
		return err
	}
	if len(l.services.tls) > 0 {
		tlsPolicies = serviceTLS{main: tlsPolicies, by: l.services.tls}
	}
	addrs := addressConfig(r, dns, mine)
	agent, err := transport.NewAgent(transport.AgentConfig{
		Sender:          l.Client,
		Senders:         l.services.senders,
		Addresses:       addrs,
		SessionLimit:    r.positive("smtp_mx_session_limit"),
		FallbackRelay:   r.str("smtp_fallback_relay"),
		TLS:             tlsPolicies,
		SocketDirectory: r.str("queue_directory"),
		Protocols:       deliveryProtocols(r.cf),
		Logger:          log,
	})
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}

	// Policy (smtpd).
	pc, err := PolicyConfig(r.cf)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	pc.Domains = domains
	ro, err := readReceiveOverrides(r)
	if err != nil {
		return err
	}
	pc.NoUnknownRecipientChecks = ro.noUnknownRecipientChecks
	pc.Resolver = mailDomains{dns}
	pc.DNS = dnsRecords{dns}
	vc := verifyConfig(r)
	vc.CachePath = o.VerifyCache
	var cl atomic.Pointer[cleanup.Cleanup] // set below, before any session
	vc.Expand = func(ctx context.Context, address string) ([]string, error) {
		return expandProbe(ctx, cl.Load(), address)
	}
	if l.Verifier, err = NewVerifier(vc, router, agent, log); err != nil {
		return err
	}
	pc.Verifier = l.Verifier
	pc.UnverifiedRecipient, pc.UnverifiedSender = unverified(r, "unverified_recipient"), unverified(r, "unverified_sender")
	pc.Network = addrs.Network
	pc.Tables = o.Tables
	pc.Open = openOpts
	pc.Logger = log
	pc.Routes = routes(router, agent.Delivers)
	l.Policy, err = policy.New(ctx, pc)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	for _, w := range l.Policy.Warnings() {
		l.warn(w.String())
	}

	// Queue manager and the relay.
	qc := queueConfig(r)
	qc.Logger = log
	var mx atomic.Pointer[MX] // set below, before any claim
	qc.Suspended = func(rep queue.Report) {
		if m := mx.Load(); m != nil {
			m.Suspended(rep)
		}
	}
	qc.Requeued = func(e *queue.Envelope) {
		if m := mx.Load(); m != nil {
			m.refilter(e)
		}
	}
	sched := o.Scheduler
	if sched == nil {
		sched = queue.NewScheduler(o.Queue, qc)
	}
	mc, err := relayConfig(r)
	if err != nil {
		return err
	}
	mc.Policy, mc.Queue, mc.Router, mc.Agent = l.Policy, sched, router, agent
	mc.DefaultRecipientLimit, mc.RecipientLimits = recipientLimits(r)
	if mc.Cleanup, err = newCleanup(ctx, r, &pc, ro, domains, mine, openOpts, open, log); err != nil {
		return err
	}
	if mc.Filter, err = filterConfig(r, agent.Delivers); err != nil {
		return err
	}
	cl.Store(mc.Cleanup)
	if mc.Auth, err = msgauthConfig(r, dnsRecords{dns}, mc.Hostname, o.AuthDecide); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	if mc.Milters, err = milterConfig(r, open); err != nil {
		return err
	}
	if ro.noMilters {
		mc.Milters = nil // receive_override_options = no_milters: smtpd's milters too
	}
	if mc.ProxyFilter, err = proxyConfig(r); err != nil {
		return err
	}
	if mc.FastFlushDomains, err = list(ctx, r, "fast_flush_domains", openOpts, l.warn); err != nil {
		return err
	}
	if r.str("smtpd_authorized_xforward_hosts") != "" {
		if mc.XForwardHosts, err = list(ctx, r, "smtpd_authorized_xforward_hosts", openOpts, l.warn); err != nil {
			return err
		}
	}
	mc.Logger, mc.Observer = log, o.Observer
	exempt, err := list(ctx, r, "smtpd_client_event_limit_exceptions", openOpts, l.warn)
	if err != nil {
		return err
	}
	limitExempt := func(ctx context.Context, a netip.Addr) bool {
		ok, err := exempt.MatchClient(ctx, a, "")
		return ok && err == nil
	}
	mc.Rates = rateLimits(r)
	mc.Rates.Exempt = limitExempt
	if o.Workers > 0 {
		mc.Workers = o.Workers
	}
	if err := r.err(); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	l.MX, err = New(mc)
	if err != nil {
		return err
	}
	mx.Store(l.MX)
	l.Server = serverConfig(r)
	l.Server.MX = l.MX
	if l.Server.CommandFilter, err = commandFilter(r, open); err != nil {
		return err
	}
	l.Server.NoDelivery = o.Scheduler != nil
	l.Server.LimitExempt = limitExempt
	l.Server.NoIPv4, l.Server.NoIPv6 = addrs.Network == "ip6", addrs.Network == "ip4" // XFORWARD ADDR
	tlsConf, tlsWarn := serverTLS(r)
	l.Server.TLS = tlsConf
	// encrypt fails closed, as in Postfix: without a certificate,
	// STARTTLS is "454 4.7.0 TLS not available" and MAIL is refused.
	l.Server.RequireTLS = tlsLevel(r) == "encrypt"
	l.Warnings = append(l.Warnings, tlsWarn...)
	return r.err()
}
