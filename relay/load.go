package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"time"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
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
	// the MX loop check (M8) and the local [ip] literals (R1). Unspecified
	// addresses (0.0.0.0, ::) add every interface address.
	Listen []netip.Addr
	// DNS are "host:port" resolvers used for every DNS query. Empty: the
	// nameservers of /etc/resolv.conf.
	DNS []string
	// Tables supplies tables by spec: a "type:name" in any parameter that
	// is a key here uses this table instead of opening one (Go tables,
	// SQL or HTTP backed recipient lists).
	Tables map[string]lookup.Table
	// Dialer opens the client's connections. Nil: net.Dialer.
	Dialer client.Dialer
	// Logger receives everything. Nil discards.
	Logger *slog.Logger
	// Observer receives events for metrics. Nil: none.
	Observer Observer
	// Workers is the number of delivery workers. Default: main.cf's
	// default_process_limit (100), the number of smtp(8) processes Postfix
	// would run.
	Workers int
	// InterfaceAddrs lists the machine's addresses for inet_interfaces =
	// all. Nil: net.InterfaceAddrs.
	InterfaceAddrs func() ([]netip.Prefix, error)
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
	// Warnings are the main.cf warnings and the configuration traps (K4).
	Warnings []string
	// Ignored lists the parameters main.cf sets that mxrelay does not use.
	Ignored []string
	// MyAddresses are the addresses the relay considers its own.
	MyAddresses []netip.Addr
	// Server is a ServerConfig for MX with main.cf's smtpd_banner,
	// smtpd_timeout, smtpd_client_connection_count_limit and STARTTLS
	// certificate: pass it to NewServer.
	Server ServerConfig
}

// Close releases the policy server connections and the client's idle
// connections.
func (l *Loaded) Close() error {
	l.Client.Close()
	return l.Policy.Close()
}

// Load assembles a relay from a main.cf: policy (smtpd restrictions and
// recipient checks), transport (address classes, transport_maps,
// relay_transport, relayhost, MX resolution with this host's addresses),
// the queue scheduler (backoff and lifetimes) and the SMTP limits.
//
// A main.cf without compatibility_level gets Postfix's backwards
// compatible defaults (relay_domains = $mydestination,
// smtpd_relay_restrictions empty), exactly as Postfix 3.7 does, with a
// warning; write "compatibility_level = 3.6" as Debian's main.cf does.
func Load(ctx context.Context, cf *MainCF, o LoadOptions) (*Loaded, error) {
	if o.Queue == nil {
		return nil, fmt.Errorf("relay: LoadOptions.Queue is required")
	}
	if cf.InterfaceAddrs == nil {
		cf.InterfaceAddrs = o.InterfaceAddrs
	}
	out := &Loaded{}
	if _, ok := cf.Raw("compatibility_level"); !ok {
		out.Warnings = append(out.Warnings, "compatibility_level is not set: Postfix's backwards-compatible defaults apply (relay_domains = $mydestination, smtpd_relay_restrictions empty); set compatibility_level = 3.6")
	}
	var typeErr error
	durations := map[string]time.Duration{}
	for _, n := range []string{"maximal_queue_lifetime", "bounce_queue_lifetime", "minimal_backoff_time", "maximal_backoff_time", "delay_warning_time", "smtpd_error_sleep_time", "smtpd_timeout"} {
		d, err := cf.Duration(n)
		if err != nil && typeErr == nil {
			typeErr = err
		}
		durations[n] = d
	}
	ints := map[string]int64{}
	for _, n := range []string{"message_size_limit", "smtpd_recipient_limit", "hopcount_limit", "smtpd_soft_error_limit", "smtpd_hard_error_limit", "smtpd_junk_command_limit", "smtpd_client_connection_count_limit", "default_destination_concurrency_limit", "default_process_limit"} {
		v, err := cf.Int(n)
		if err != nil && typeErr == nil {
			typeErr = err
		}
		ints[n] = v
	}
	softBounce, err := cf.Bool("soft_bounce")
	if err != nil && typeErr == nil {
		typeErr = err
	}
	if typeErr != nil {
		return nil, typeErr
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	// My addresses: listening addresses, inet_interfaces, proxy_interfaces.
	mine, warns := myAddresses(cf, o)
	out.Warnings = append(out.Warnings, warns...)
	out.MyAddresses = mine

	openOpts := &lookup.OpenOptions{Logger: log, Types: tableTypes(o.Tables)}
	open := func(spec string) (lookup.Table, error) {
		spec = strings.TrimPrefix(spec, "proxy:")
		if t, ok := o.Tables[spec]; ok {
			return t, nil
		}
		return lookup.Open(ctx, spec, openOpts)
	}

	// Routing (trivial-rewrite).
	pdms := cf.List("parent_domain_matches_subdomains")
	list := func(name string) (*lookup.List, error) {
		l, ws, err := lookup.ParseList(ctx, strings.ReplaceAll(cf.Get(name), "proxy:", ""), lookup.ListOptions{Name: name, ParentStyle: slices.Contains(pdms, name), Open: openOpts})
		for _, w := range ws {
			out.Warnings = append(out.Warnings, fmt.Sprint(w))
		}
		if err != nil {
			return nil, fmt.Errorf("relay: %s: %w", name, err)
		}
		return l, nil
	}
	domains := &lookup.Domains{Interfaces: mine}
	for _, p := range []struct {
		name string
		dst  **lookup.List
	}{
		{"mydestination", &domains.MyDestination}, {"virtual_alias_domains", &domains.VirtualAliasDomains},
		{"virtual_mailbox_domains", &domains.VirtualMailboxDomains}, {"relay_domains", &domains.RelayDomains},
	} {
		if *p.dst, err = list(p.name); err != nil {
			return nil, err
		}
	}
	var tmaps []lookup.Table
	for _, spec := range cf.List("transport_maps") {
		t, err := open(spec)
		if err != nil {
			return nil, fmt.Errorf("relay: transport_maps: %w", err)
		}
		tmaps = append(tmaps, t)
		out.Warnings = append(out.Warnings, transportTraps(ctx, spec, t)...)
	}
	if fb := cf.Get("smtp_fallback_relay"); fb != "" && cf.Get("relay_domains") != "" {
		out.Warnings = append(out.Warnings, fmt.Sprintf("smtp_fallback_relay = %s with relay domains: it is never used for relay-class mail, nor when this host is an MX of the destination (M11)", fb))
	}
	router, err := transport.NewRouter(transport.RouterConfig{
		Domains:          domains,
		TransportMaps:    tmaps,
		Keys:             lookup.KeyOptions{Delimiters: cf.Get("recipient_delimiter"), ParentStyle: slices.Contains(pdms, "transport_maps")},
		MyHostname:       cf.Get("myhostname"),
		LocalTransport:   cf.Get("local_transport"),
		VirtualTransport: cf.Get("virtual_transport"),
		RelayTransport:   cf.Get("relay_transport"),
		DefaultTransport: cf.Get("default_transport"),
		Relayhost:        cf.Get("relayhost"),
	})
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}

	// Policy (smtpd).
	params := make(map[string]string)
	for _, n := range cf.Names() {
		params[n] = strings.ReplaceAll(cf.Get(n), "$", "$$")
	}
	for _, n := range []string{"myhostname", "mydomain", "relay_domains", "smtpd_relay_restrictions", "compatibility_level"} {
		params[n] = strings.ReplaceAll(cf.Get(n), "$", "$$")
	}
	pc, err := policy.FromMainCF(params)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	// One DNS client for smtpd's checks and for delivery, as Postfix's
	// processes share the system resolver.
	dns, err := transport.NewDNS(transport.DNSConfig{Servers: o.DNS, Cache: true, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}

	// Delivery (smtp), built before the policy so that RCPT can refuse
	// what the Agent could never deliver (routes).
	cl, err := client.New(client.Config{Hostname: cf.Get("myhostname"), Dialer: o.Dialer, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	tlsPolicies, err := clientTLS(cf, open)
	if err != nil {
		cl.Close()
		return nil, err
	}
	agent, err := transport.NewAgent(transport.AgentConfig{
		Sender:        cl,
		Addresses:     transport.AddressConfig{Resolver: dns, MyAddresses: mine},
		FallbackRelay: cf.Get("smtp_fallback_relay"),
		TLS:           tlsPolicies,
		Logger:        log,
	})
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("relay: %w", err)
	}

	pc.Resolver = mailDomains{dns}
	pc.Tables = o.Tables
	pc.Open = openOpts
	pc.Logger = log
	pc.Routes = routes(router, agent.Delivers)
	pol, err := policy.New(ctx, pc)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("relay: %w", err)
	}
	for _, w := range pol.Warnings() {
		out.Warnings = append(out.Warnings, w.String())
	}
	out.Policy, out.Client = pol, cl

	// Queue manager.
	life := queue.Lifetimes{
		Maximal:      lifetime(durations["maximal_queue_lifetime"]),
		Bounce:       lifetime(durations["bounce_queue_lifetime"]),
		DelayWarning: durations["delay_warning_time"],
	}
	sched := queue.NewScheduler(o.Queue, queue.Config{
		MinimalBackoff: durations["minimal_backoff_time"],
		MaximalBackoff: durations["maximal_backoff_time"],
		Lifetimes:      life,
		Concurrency:    int(ints["default_destination_concurrency_limit"]),
		Logger:         log,
	})
	workers := o.Workers
	if workers <= 0 {
		workers = int(ints["default_process_limit"]) // Postfix's limit on smtp(8) processes
	}
	size := ints["message_size_limit"]
	if size == 0 {
		size = -1 // Postfix: 0 means no limit
	}
	sleep := durations["smtpd_error_sleep_time"]
	if sleep == 0 {
		sleep = -1
	}
	r, err := New(Config{
		Hostname:             cf.Get("myhostname"),
		Origin:               cf.Get("myorigin"),
		MailName:             cf.Get("mail_name"),
		Policy:               pol,
		Queue:                sched,
		Router:               router,
		Agent:                agent,
		MessageSizeLimit:     size,
		RecipientLimit:       int(ints["smtpd_recipient_limit"]),
		HopCountLimit:        int(ints["hopcount_limit"]),
		SoftErrorLimit:       int(ints["smtpd_soft_error_limit"]),
		HardErrorLimit:       int(ints["smtpd_hard_error_limit"]),
		JunkCommandLimit:     int(ints["smtpd_junk_command_limit"]),
		ErrorSleep:           sleep,
		SoftBounce:           softBounce,
		MaximalQueueLifetime: durations["maximal_queue_lifetime"],
		DelayWarningTime:     durations["delay_warning_time"],
		Workers:              workers,
		Logger:               log,
		Observer:             o.Observer,
	})
	if err != nil {
		out.Close()
		return nil, err
	}
	out.MX = r
	perClient := int(ints["smtpd_client_connection_count_limit"])
	if perClient == 0 {
		perClient = -1 // Postfix: 0 means no limit
	}
	out.Server = ServerConfig{MX: r, Timeout: durations["smtpd_timeout"], MaxConnectionsPerClient: perClient, Banner: cf.Get("smtpd_banner")}
	tlsConf, tlsWarn := serverTLS(cf)
	out.Server.TLS = tlsConf
	out.Warnings = append(out.Warnings, tlsWarn...)
	out.Warnings = append(out.Warnings, cf.Warnings()...)
	out.Ignored = cf.Ignored()
	return out, nil
}

// lifetime maps Postfix's 0 (a single attempt) to the queue's negative.
func lifetime(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// serverTLS builds the STARTTLS configuration of smtpd_tls_security_level
// = may or encrypt (or the obsolete smtpd_use_tls / smtpd_enforce_tls),
// from smtpd_tls_chain_files or smtpd_tls_cert_file and
// smtpd_tls_key_file. As Postfix does, a certificate that cannot be
// loaded disables STARTTLS with a warning rather than stopping the
// server. "encrypt" (TLS required before MAIL) is not enforced by
// mxrelay; a warning says so.
func serverTLS(cf *MainCF) (*tls.Config, []string) {
	level := strings.ToLower(cf.Get("smtpd_tls_security_level"))
	if level == "" {
		if b, _ := cf.Bool("smtpd_enforce_tls"); b {
			level = "encrypt"
		} else if b, _ := cf.Bool("smtpd_use_tls"); b {
			level = "may"
		}
	}
	if level != "may" && level != "encrypt" {
		return nil, nil
	}
	var warns []string
	if level == "encrypt" {
		warns = append(warns, "smtpd_tls_security_level = encrypt: STARTTLS is offered but not required (mxrelay does not enforce it; an MX must not require TLS, RFC 3207)")
	}
	var cert tls.Certificate
	var err error
	if chain := cf.List("smtpd_tls_chain_files"); len(chain) > 0 {
		var pem []byte
		for _, f := range chain {
			b, rerr := os.ReadFile(f)
			if rerr != nil {
				err = rerr
				break
			}
			pem = append(pem, b...)
		}
		if err == nil {
			cert, err = tls.X509KeyPair(pem, pem)
		}
	} else {
		certFile, keyFile := cf.Get("smtpd_tls_cert_file"), cf.Get("smtpd_tls_key_file")
		if certFile == "" {
			return nil, append(warns, "smtpd_tls_security_level = "+level+" without smtpd_tls_cert_file: STARTTLS is disabled")
		}
		cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	}
	if err != nil {
		return nil, append(warns, fmt.Sprintf("cannot load the server certificate, STARTTLS is disabled: %v", err))
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, warns
}

// clientTLS builds the outbound STARTTLS policy: smtp_tls_security_level
// for every hop, smtp_tls_policy_maps per destination, smtp_tls_CAfile as
// the roots. Unset, the level is "may" (deliberately: Postfix's built-in
// default is "none", but a relay that sends in clear when the next hop
// offers TLS is weaker for nothing; Debian's main.cf sets "may").
func clientTLS(cf *MainCF, open func(string) (lookup.Table, error)) (*transport.TLSPolicyMap, error) {
	m := &transport.TLSPolicyMap{}
	if ca := cf.Get("smtp_tls_CAfile"); ca != "" {
		b, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("relay: smtp_tls_CAfile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("relay: smtp_tls_CAfile %s: no certificate in it", ca)
		}
		m.Config = &tls.Config{RootCAs: pool}
	}
	m.Default.Config = m.Config
	switch level := strings.ToLower(cf.Get("smtp_tls_security_level")); level {
	case "", "may", "dane":
		m.Default.Level = client.TLSOpportunistic
	case "none":
		m.Default.Level = client.TLSNone
	case "encrypt":
		m.Default.Level = client.TLSMandatory
	case "verify":
		m.Default.Level = client.TLSVerify
	case "secure":
		m.Default.Level = client.TLSVerify
		m.Default.Match = []string{"nexthop", "dot-nexthop"}
	default:
		return nil, &ConfigError{Param: "smtp_tls_security_level", Value: level, Reason: "not supported (none, may, encrypt, verify, secure, dane)"}
	}
	for _, spec := range cf.List("smtp_tls_policy_maps") {
		t, err := open(spec)
		if err != nil {
			return nil, fmt.Errorf("relay: smtp_tls_policy_maps: %w", err)
		}
		m.Tables = append(m.Tables, t)
	}
	return m, nil
}

// transportTraps reports the transport_maps entries that do not do what
// they seem to (K4): a "*" entry applies to every domain, local ones
// included (X4); an "@domain" key never matches (L2). Keys can be listed
// only for tables with a postmap source file.
func transportTraps(ctx context.Context, spec string, t lookup.Table) []string {
	var out []string
	if v, ok, err := t.Lookup(ctx, "*"); err == nil && ok {
		out = append(out, fmt.Sprintf("transport_maps %s: the \"*\" entry (%s) routes every recipient, local domains included (X4)", spec, v))
	}
	typ, name, _ := strings.Cut(strings.TrimPrefix(spec, "proxy:"), ":")
	switch typ {
	case "hash", "texthash", "btree", "cdb", "lmdb":
	default:
		return out
	}
	f, err := os.Open(name)
	if err != nil {
		return out
	}
	defer f.Close()
	entries, _, err := lookup.ParseText(f, name, lookup.ParseOptions{})
	if err != nil {
		return out
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Key, "@") {
			out = append(out, fmt.Sprintf("transport_maps %s: key %q never matches: transport_maps has no @domain lookup (L2); write %q", spec, e.Key, e.Key[1:]))
		}
	}
	return out
}

// tableTypes exposes user tables to list parameters: a spec "type:name"
// in Tables makes "type" a table type whose "name" is that table.
func tableTypes(tables map[string]lookup.Table) map[string]lookup.OpenFunc {
	if len(tables) == 0 {
		return nil
	}
	types := make(map[string]lookup.OpenFunc)
	for spec := range tables {
		typ, _, ok := strings.Cut(spec, ":")
		if !ok || types[typ] != nil {
			continue
		}
		types[typ] = func(ctx context.Context, name string, o *lookup.OpenOptions) (lookup.Table, error) {
			if t, ok := tables[typ+":"+name]; ok {
				return t, nil
			}
			return nil, fmt.Errorf("no table %s:%s among the supplied tables", typ, name)
		}
	}
	return types
}

// myAddresses collects the addresses this relay answers on (M8).
func myAddresses(cf *MainCF, o LoadOptions) ([]netip.Addr, []string) {
	var out, all []netip.Addr
	var warns []string
	loadAll := func() {
		if all != nil {
			return
		}
		f := o.InterfaceAddrs
		if f == nil {
			f = systemInterfaceAddrs
		}
		ps, err := f()
		if err != nil {
			warns = append(warns, fmt.Sprintf("cannot list interface addresses: %v", err))
		}
		all = []netip.Addr{}
		for _, p := range ps {
			all = append(all, p.Addr().WithZone(""))
		}
	}
	add := func(a netip.Addr) {
		a = a.Unmap().WithZone("")
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for _, a := range o.Listen {
		if a.IsUnspecified() {
			loadAll()
			for _, b := range all {
				add(b)
			}
			continue
		}
		add(a)
	}
	for _, name := range []string{"inet_interfaces", "proxy_interfaces"} {
		for _, v := range cf.List(name) {
			switch strings.ToLower(v) {
			case "all":
				loadAll()
				for _, b := range all {
					add(b)
				}
				continue
			case "loopback-only":
				add(netip.MustParseAddr("127.0.0.1"))
				add(netip.IPv6Loopback())
				continue
			}
			a, err := netip.ParseAddr(strings.Trim(v, "[]"))
			if err != nil {
				if ip := net.ParseIP(v); ip == nil {
					warns = append(warns, fmt.Sprintf("%s: %q is not an IP address; host names are not resolved (list its addresses)", name, v))
				}
				continue
			}
			add(a)
		}
	}
	return out, warns
}
