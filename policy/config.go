package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mxrelay/mxrelay/lookup"
)

// Flag is a yes/no main.cf parameter whose zero value is Postfix's default.
type Flag int8

// The Flag values.
const (
	Unset Flag = iota // Postfix 3.7's default for the parameter
	Yes
	No
)

func (f Flag) on(def bool) bool {
	switch f {
	case Yes:
		return true
	case No:
		return false
	}
	return def
}

// DefaultRelayRestrictions is smtpd_relay_restrictions' default at
// compatibility_level >= 1.
const DefaultRelayRestrictions = "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"

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

// Config holds the main.cf parameters policy implements, one field per
// parameter, named after it (relay_domains is RelayDomains). List and table
// parameters are written as in main.cf ("backup.example, hash:/etc/x",
// "cdb:/etc/postfix/relay_recipients"); restriction lists too
// ("permit_mynetworks, reject_unauth_destination"). FromMainCF fills a
// Config from a main.cf file.
//
// Zero values: where Postfix's default makes sense for an embedded relay,
// the zero value is that default and the field says so. Where Postfix's
// default depends on the machine (mydestination, mynetworks), the zero
// value is empty and FromMainCF applies Postfix's default.
type Config struct {
	// MyHostname is $myhostname, the default of MyOrigin.
	MyHostname string
	// MyOrigin is $myorigin: a recipient without a domain ("<postmaster>")
	// is qualified with it. Default MyHostname.
	MyOrigin string
	// MyDestination is mydestination: the local domains. Default empty
	// (Postfix: $myhostname, localhost.$mydomain, localhost).
	MyDestination string
	// InetInterfaces and ProxyInterfaces are inet_interfaces and
	// proxy_interfaces: "[ip]" literals of these addresses are local
	// (trivial-rewrite's resolve.c). Values: addresses, "loopback-only",
	// "all" (every address of this machine). Default: InetInterfaces "all", as Postfix;
	// ProxyInterfaces empty. Host names are refused (no DNS at startup).
	InetInterfaces, ProxyInterfaces string
	// MyNetworks is mynetworks: trusted clients for permit_mynetworks.
	// Default empty: no client is trusted (Postfix: the machine's own
	// addresses, mynetworks_style = host).
	MyNetworks string
	// RelayDomains is relay_domains. Default empty, as Postfix at
	// compatibility_level >= 2.
	RelayDomains string
	// VirtualAliasDomains and VirtualMailboxDomains are the virtual
	// domain lists. Default empty (Postfix: $virtual_alias_maps and
	// $virtual_mailbox_maps; FromMainCF applies these).
	VirtualAliasDomains, VirtualMailboxDomains string

	// RelayRecipientMaps is relay_recipient_maps: empty means
	// every localpart of a relay domain is accepted (backscatter risk,
	// reported by Warnings).
	RelayRecipientMaps string
	// LocalRecipientMaps, VirtualAliasMaps and VirtualMailboxMaps decide
	// which recipients of local, alias and virtual domains exist.
	// Default empty: no check (Postfix's default local_recipient_maps
	// is "proxy:unix:passwd.byname $alias_maps"). Config.Recipients
	// replaces them with Go code.
	LocalRecipientMaps, VirtualAliasMaps, VirtualMailboxMaps string
	// CanonicalMaps and RecipientCanonicalMaps: a recipient found in
	// them is known (check_rcpt_maps in smtpd_check.c).
	CanonicalMaps, RecipientCanonicalMaps string
	// RelocatedMaps is relocated_maps: a recipient found there is
	// refused at RCPT with 550 5.1.6 "User has moved to <value>"
	// (relocated(5)).
	RelocatedMaps string

	// ParentDomainMatchesSubdomains is parent_domain_matches_subdomains.
	// Nil means Postfix 3.7's default: debug_peer_list,
	// fast_flush_domains, mynetworks, permit_mx_backup_networks,
	// qmqpd_authorized_clients, relay_domains, smtpd_access_maps. So
	// relay_domains and access maps use parent style, where
	// "example.com" covers its subdomains and a literal ".example.com"
	// in a list matches nothing. An empty non-nil slice means none: dot
	// style everywhere, where ".example.com" covers the subdomains.
	ParentDomainMatchesSubdomains []string
	// SMTPDNullAccessLookupKey is smtpd_null_access_lookup_key: the key
	// check_sender_access looks up for the null sender. Default "<>".
	SMTPDNullAccessLookupKey string
	// RecipientDelimiter is recipient_delimiter. Default empty.
	RecipientDelimiter string
	// OwnerRequestSpecial is owner_request_special. Default yes.
	OwnerRequestSpecial Flag

	// The restriction lists. SMTPDRelayRestrictions defaults to
	// DefaultRelayRestrictions; to make it empty write "dunno". The others
	// default to empty. With SMTPDDelayReject (default yes) the client,
	// HELO and sender lists are evaluated at RCPT.
	SMTPDClientRestrictions    string
	SMTPDHeloRestrictions      string
	SMTPDSenderRestrictions    string
	SMTPDRelayRestrictions     string
	SMTPDRecipientRestrictions string
	SMTPDDataRestrictions      string
	// SMTPDRestrictionClasses is smtpd_restriction_classes, with each
	// class's definition: {"myclass": "reject_non_fqdn_recipient, permit"}.
	SMTPDRestrictionClasses map[string]string

	// SMTPDRelayBeforeRecipientRestrictions: default yes (compatibility
	// level 3.6).
	SMTPDRelayBeforeRecipientRestrictions Flag
	// SMTPDRejectUnlistedRecipient: the implicit reject_unlisted_recipient
	// after both lists. Default yes.
	SMTPDRejectUnlistedRecipient Flag
	// SMTPDDelayReject is smtpd_delay_reject: the client, HELO and sender
	// restrictions are evaluated at RCPT. Default yes.
	SMTPDDelayReject Flag
	// ShowUserUnknownTableName: "User unknown in relay recipient table".
	// Default yes.
	ShowUserUnknownTableName Flag
	// AllowPercentHack is allow_percent_hack: "user%elsewhere@local" is
	// resolved as "user@elsewhere" when the domain is local. Default yes.
	AllowPercentHack Flag
	// SwapBangpath is swap_bangpath: "site!user@local" is resolved as
	// "user@site" when the domain is local. Default yes.
	SwapBangpath Flag
	// AllowUntrustedRouting: source-routed recipients may be authorised
	// destinations (allow_untrusted_routing). Default no. Never set it on
	// an MX.
	AllowUntrustedRouting bool
	// SoftBounce turns every 5xx reply into 4xx. Default no.
	SoftBounce bool

	// Reply codes; zero means Postfix's default, given in brackets.
	RelayDomainsRejectCode          int           // relay_domains_reject_code [554]
	AccessMapRejectCode             int           // access_map_reject_code [554]
	AccessMapDeferCode              int           // access_map_defer_code [450]
	RejectCode                      int           // reject_code [554]
	DeferCode                       int           // defer_code [450]
	UnknownRelayRecipientRejectCode int           // unknown_relay_recipient_reject_code [550]
	UnknownLocalRecipientRejectCode int           // unknown_local_recipient_reject_code [550]
	UnknownVirtualAliasRejectCode   int           // unknown_virtual_alias_reject_code [550]
	UnknownVirtualMailboxRejectCode int           // unknown_virtual_mailbox_reject_code [550]
	NonFQDNRejectCode               int           // non_fqdn_reject_code [504]
	InvalidHostnameRejectCode       int           // invalid_hostname_reject_code [501]
	UnknownAddressRejectCode        int           // unknown_address_reject_code [450]
	SMTPDRecipientLimit             int           // smtpd_recipient_limit [1000]
	MessageSizeLimit                int64         // message_size_limit [10240000; negative: no limit, main.cf's 0]: MAIL FROM SIZE= above it gets 552 5.3.4
	SMTPDPolicyServiceTimeout       time.Duration // smtpd_policy_service_timeout [100s]
	SMTPDPolicyServiceMaxIdle       time.Duration // smtpd_policy_service_max_idle [300s]
	SMTPDPolicyServiceMaxTTL        time.Duration // smtpd_policy_service_max_ttl [1000s]
	SMTPDPolicyServiceTryLimit      int           // smtpd_policy_service_try_limit [2]
	SMTPDPolicyServiceRetryDelay    time.Duration // smtpd_policy_service_retry_delay [1s]
	SMTPDPolicyServiceRequestLimit  int           // smtpd_policy_service_request_limit [0: none]
	SMTPDPolicyServiceDefaultAction string        // smtpd_policy_service_default_action [451 4.3.5 Server configuration problem]
	SMTPDPolicyServicePolicyContext string        // smtpd_policy_service_policy_context [empty]
	SMTPDPolicyServiceMaxReplySize  int           // cap on a policy server's reply [64 KiB]; no Postfix parameter

	// Domains, when set, are the address classes (mydestination,
	// relay_domains, the virtual domain lists and this host's addresses)
	// already built, to share with the router: MyDestination,
	// RelayDomains, VirtualAliasDomains, VirtualMailboxDomains,
	// InetInterfaces and ProxyInterfaces are then not parsed, though
	// configuration warnings still read RelayDomains and MyDestination.
	// relay.Load sets it, so that the lists are parsed and their tables
	// opened once.
	Domains *lookup.Domains
	// SocketDirectory is where a relative "unix:" path of
	// check_policy_service resolves ("unix:private/policy"), as Postfix's
	// smtpd runs in queue_directory. Empty: the working directory.
	SocketDirectory string

	// Tables supplies tables by spec: a "type:name" in any parameter that
	// is a key here uses this table instead of opening one. This is how
	// Go tables (lookup.NewMap, lookup.TableFunc) enter a configuration.
	Tables map[string]lookup.Table
	// Open is used to open the other tables. Nil: lookup's defaults.
	Open *lookup.OpenOptions
	// Restrictions adds restriction names usable in the lists, backed by
	// Go code: {"check_my_users": policy.CheckFunc(...)}.
	Restrictions map[string]Check
	// Routes answers where a recipient would be delivered, so that
	// error: and retry: routes are refused at RCPT, as Postfix's
	// check_rcpt_maps does. Nil: no check.
	Routes Routes
	// Recipients, when set, decides which recipients of local, alias and
	// virtual domains exist, instead of the recipient maps of those
	// classes. Relay domains always use RelayRecipientMaps.
	Recipients Recipients
	// Resolver answers DNS questions for reject_unknown_recipient_domain
	// and reject_unknown_sender_domain.
	Resolver Resolver
	// Dial connects to policy servers. Default net.Dialer.DialContext.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Now is the clock for policy server connection lifetimes. Default
	// time.Now.
	Now func() time.Time
	// Logger receives warnings (WARN actions, warn_if_reject, table
	// and policy server failures). Nil discards them.
	Logger *slog.Logger
}

// Routes tells policy where a recipient's mail would go. relay wires
// transport.Router in; policy itself never imports transport.
type Routes interface {
	// Route returns the transport name ("smtp", "relay", "error",
	// "retry"...) and nexthop of the recipient's route; for error and
	// retry the nexthop is the text ("5.1.2 no mail here"). An error is
	// a temporary failure (451 4.3.0).
	Route(ctx context.Context, recipient string) (transport, nexthop string, err error)
}

// RoutesFunc adapts a function to Routes.
type RoutesFunc func(ctx context.Context, recipient string) (transport, nexthop string, err error)

// Route calls f.
func (f RoutesFunc) Route(ctx context.Context, recipient string) (string, string, error) {
	return f(ctx, recipient)
}

// Recipients decides whether a recipient of a local, alias or virtual
// domain exists: the hook for an embedding server's own users.
type Recipients interface {
	// Known reports whether recipient (local@domain, domain lower-case
	// ASCII as received, without trailing dot) exists. class is
	// lookup.ClassLocal, ClassAlias or ClassVirtual. An error is a
	// temporary failure (451 4.3.0).
	Known(ctx context.Context, class lookup.Class, recipient string) (bool, error)
}

// RecipientsFunc adapts a function to Recipients.
type RecipientsFunc func(ctx context.Context, class lookup.Class, recipient string) (bool, error)

// Known calls f.
func (f RecipientsFunc) Known(ctx context.Context, class lookup.Class, recipient string) (bool, error) {
	return f(ctx, class, recipient)
}

// DomainStatus is what DNS says about a recipient domain.
type DomainStatus int

// The domain statuses for reject_unknown_recipient_domain and
// reject_unknown_sender_domain.
const (
	DomainFound    DomainStatus = iota + 1 // MX, A or AAAA records exist
	DomainNotFound                         // NXDOMAIN, or no MX/A/AAAA
	DomainNullMX                           // a null MX (RFC 7505)
)

// Resolver answers whether a domain can receive mail (MX, then A/AAAA).
type Resolver interface {
	// MailDomain looks the domain up. An error is a temporary DNS
	// failure.
	MailDomain(ctx context.Context, domain string) (DomainStatus, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, domain string) (DomainStatus, error)

// MailDomain calls f.
func (f ResolverFunc) MailDomain(ctx context.Context, domain string) (DomainStatus, error) {
	return f(ctx, domain)
}

// Warning is a configuration trap found by New: the configuration works,
// but probably not as intended. Postfix accepts most of them silently.
type Warning struct {
	Param string // the parameter concerned
	Msg   string // what is wrong and what Postfix would do
}

// String formats the warning as "param: message".
func (w Warning) String() string { return w.Param + ": " + w.Msg }

// ConfigError is a configuration New refuses: an unknown restriction, a
// missing table, a configuration that could make an open relay (Postfix's
// smtpd refuses to start on it: smtpd_check.c).
type ConfigError struct {
	Param string // the parameter refused: "smtpd_recipient_restrictions"
	Err   error  // why
}

// Error names the parameter and the problem.
func (e *ConfigError) Error() string { return "policy: " + e.Param + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orDur(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// Policy decides relay acceptance for one configuration. It is safe for
// concurrent use; Close releases policy server connections.
type Policy struct {
	cfg     Config
	opts    *lookup.OpenOptions
	log     *slog.Logger
	domains lookup.Domains
	mynet   *lookup.List
	myorig  string
	keys    lookup.KeyOptions // recipient maps
	access  lookup.KeyOptions // access maps
	// maps
	relayRcpt, localRcpt, virtAlias, virtMailbox, canon, rcptCanon, relocated tableList
	lists                                                                     [6]compiled // client, helo, sender, relay, recipient, data
	classes                                                                   map[string]compiled
	services                                                                  []*policyClient
	warnings                                                                  []Warning

	relayCode, mapReject, mapDefer, rejectCode, deferCode       int
	relayRcptCode, localRcptCode, aliasCode, mailboxCode        int
	nonFQDNCode, unknownAddrCode, rcptLimit, invalidHostCode    int
	sizeLimit                                                   int64
	relayFirst, rejectUnlisted, delayReject, showTable, parents bool
	percentHack, swapBang                                       bool
	nullKey                                                     string
}

// list indexes
const (
	listClient = iota
	listHelo
	listSender
	listRelay
	listRecipient
	listData
)

var listParams = [...]string{"smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
	"smtpd_relay_restrictions", "smtpd_recipient_restrictions", "smtpd_data_restrictions"}

// New checks a configuration, opens its tables and returns the Policy.
// It refuses a configuration in which neither smtpd_relay_restrictions
// nor smtpd_recipient_restrictions can refuse relaying (as Postfix's smtpd
// refuses to start), unknown
// restriction names and tables that cannot be opened. Traps that do not
// stop it are reported by Warnings.
func New(ctx context.Context, c Config) (*Policy, error) {
	c.Tables, c.Restrictions = maps.Clone(c.Tables), maps.Clone(c.Restrictions)
	c.SMTPDRestrictionClasses = maps.Clone(c.SMTPDRestrictionClasses)
	p := &Policy{cfg: c, log: c.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.parents = p.isParent("smtpd_access_maps")
	p.opts = p.buildOpenOptions()
	p.myorig = c.MyOrigin
	if p.myorig == "" {
		p.myorig = c.MyHostname
	}
	var err error
	list := func(param, value string) *lookup.List {
		if err != nil {
			return nil
		}
		l, ws, e := lookup.ParseList(ctx, value, lookup.ListOptions{Name: param, ParentStyle: p.isParent(param), Open: p.opts})
		for _, w := range ws {
			p.warn(param, w.String())
		}
		if e != nil {
			err = &ConfigError{param, e}
		}
		return l
	}
	p.mynet = list("mynetworks", c.MyNetworks)
	if err != nil {
		return nil, err
	}
	if c.Domains != nil {
		p.domains = *c.Domains
	} else if e := p.buildDomains(list); e != nil {
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	tables := func(param, value string) tableList {
		if err != nil {
			return tableList{}
		}
		var ts []lookup.Table
		specs, e := tokenize(value)
		if e != nil {
			err = &ConfigError{param, e}
			return tableList{}
		}
		for _, spec := range specs {
			t, e := p.openTable(ctx, spec)
			if e != nil {
				err = &ConfigError{param, e}
				return tableList{}
			}
			ts = append(ts, t)
		}
		return newTableList(ts)
	}
	p.relayRcpt = tables("relay_recipient_maps", c.RelayRecipientMaps)
	p.localRcpt = tables("local_recipient_maps", c.LocalRecipientMaps)
	p.virtAlias = tables("virtual_alias_maps", c.VirtualAliasMaps)
	p.virtMailbox = tables("virtual_mailbox_maps", c.VirtualMailboxMaps)
	p.canon = tables("canonical_maps", c.CanonicalMaps)
	p.rcptCanon = tables("recipient_canonical_maps", c.RecipientCanonicalMaps)
	p.relocated = tables("relocated_maps", c.RelocatedMaps)
	if err != nil {
		return nil, err
	}
	p.keys = lookup.KeyOptions{Delimiters: c.RecipientDelimiter, SplitOwnerRequest: !c.OwnerRequestSpecial.on(true)}
	p.access = p.keys
	p.access.ParentStyle = p.parents

	p.relayCode = orInt(c.RelayDomainsRejectCode, 554)
	p.mapReject = orInt(c.AccessMapRejectCode, 554)
	p.mapDefer = orInt(c.AccessMapDeferCode, 450)
	p.rejectCode = orInt(c.RejectCode, 554)
	p.deferCode = orInt(c.DeferCode, 450)
	p.relayRcptCode = orInt(c.UnknownRelayRecipientRejectCode, 550)
	p.localRcptCode = orInt(c.UnknownLocalRecipientRejectCode, 550)
	p.aliasCode = orInt(c.UnknownVirtualAliasRejectCode, 550)
	p.mailboxCode = orInt(c.UnknownVirtualMailboxRejectCode, 550)
	p.nonFQDNCode = orInt(c.NonFQDNRejectCode, 504)
	p.invalidHostCode = orInt(c.InvalidHostnameRejectCode, 501)
	p.unknownAddrCode = orInt(c.UnknownAddressRejectCode, 450)
	p.rcptLimit = orInt(c.SMTPDRecipientLimit, 1000)
	p.sizeLimit = c.MessageSizeLimit
	switch {
	case p.sizeLimit == 0:
		p.sizeLimit = 10240000
	case p.sizeLimit < 0:
		p.sizeLimit = math.MaxInt64 // main.cf's message_size_limit = 0
	}
	p.relayFirst = c.SMTPDRelayBeforeRecipientRestrictions.on(true)
	p.rejectUnlisted = c.SMTPDRejectUnlistedRecipient.on(true)
	p.delayReject = c.SMTPDDelayReject.on(true)
	p.showTable = c.ShowUserUnknownTableName.on(true)
	p.percentHack = c.AllowPercentHack.on(true)
	p.swapBang = c.SwapBangpath.on(true)
	p.nullKey = c.SMTPDNullAccessLookupKey
	if p.nullKey == "" {
		p.nullKey = "<>"
	}

	if err := p.compileLists(ctx); err != nil {
		p.Close()
		return nil, err
	}
	if err := p.guard(); err != nil {
		p.Close()
		return nil, err
	}
	p.checkTraps(ctx)
	return p, nil
}

// Warnings returns the configuration traps New found.
func (p *Policy) Warnings() []Warning { return p.warnings }

// Close closes policy server connections. The Policy must not be used
// afterwards.
func (p *Policy) Close() error {
	for _, s := range p.services {
		s.close()
	}
	return nil
}

func (p *Policy) warn(param, msg string) {
	p.warnings = append(p.warnings, Warning{Param: param, Msg: msg})
}

// buildOpenOptions makes the options every table is opened with: the
// caller's, plus the tables of Config.Tables under their specs.
func (p *Policy) buildOpenOptions() *lookup.OpenOptions {
	c := &p.cfg
	base := lookup.OpenOptions{Logger: c.Logger}
	if c.Open != nil {
		base = *c.Open
	}
	if len(c.Tables) == 0 {
		return &base
	}
	fallback := base
	types := make(map[string]lookup.OpenFunc, len(base.Types)+len(c.Tables))
	maps.Copy(types, base.Types)
	for spec := range c.Tables {
		typ, _, err := lookup.ParseSpec(spec)
		if err != nil {
			continue
		}
		types[typ] = func(ctx context.Context, name string, _ *lookup.OpenOptions) (lookup.Table, error) {
			if t, ok := c.Tables[typ+":"+name]; ok {
				return t, nil
			}
			return lookup.Open(ctx, typ+":"+name, &fallback)
		}
	}
	base.Types = types
	return &base
}

func (p *Policy) openTable(ctx context.Context, spec string) (lookup.Table, error) {
	return lookup.Open(ctx, spec, p.opts)
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
		addrs, e := interfaceAddrs(iv.value)
		if e != nil {
			return &ConfigError{iv.param, e}
		}
		p.domains.Interfaces = append(p.domains.Interfaces, addrs...)
	}
	return nil
}

// interfaceAddrs expands inet_interfaces / proxy_interfaces.
func interfaceAddrs(v string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, tok := range lookup.SplitList(v) {
		switch strings.ToLower(tok) {
		case "all":
			as, err := net.InterfaceAddrs()
			if err != nil {
				return nil, err
			}
			for _, a := range as {
				if n, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(n.IP); ok {
						out = append(out, ip.Unmap())
					}
				}
			}
		case "loopback-only":
			out = append(out, netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback())
		default:
			ip, err := netip.ParseAddr(strings.Trim(tok, "[]"))
			if err != nil {
				return nil, fmt.Errorf("%q is not an IP address (host names are not resolved at startup)", tok)
			}
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}

// guard is Postfix's startup check (smtpd_check.c: "specify at least one
// working instance of"): one of the two RCPT lists must be able to refuse
// relaying.
func (p *Policy) guard() error {
	seen := map[string]bool{}
	var has func(c compiled) bool
	has = func(c compiled) bool {
		for _, s := range c {
			switch s.name {
			case "reject_unauth_destination", "defer_unauth_destination", "reject", "defer", "defer_if_permit", "check_relay_domains":
				return true
			}
			if s.kind == stepClass && !seen[s.name] {
				seen[s.name] = true
				if has(p.classes[s.name]) {
					return true
				}
			}
		}
		return false
	}
	if has(p.lists[listRelay]) || has(p.lists[listRecipient]) {
		return nil
	}
	return &ConfigError{"smtpd_relay_restrictions", errors.New("in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, " +
		"specify at least one working instance of: reject_unauth_destination, defer_unauth_destination, reject, defer, defer_if_permit or check_relay_domains " +
		"(without one this server would be an open relay)")}
}

// checkTraps reports as warnings the traps listed under "Deliberate
// differences" in the package documentation.
func (p *Policy) checkTraps(ctx context.Context) {
	c := &p.cfg
	relayToks, _ := tokenize(c.RelayDomains) // New has parsed it: no error
	// At compatibility_level < 2 Postfix's own default is relay_domains =
	// $mydestination: every local domain is then in both lists, and
	// harmlessly so (mail to them is delivered locally either way).
	sameAsLocal := strings.Join(lookup.SplitList(c.RelayDomains), " ") == strings.Join(lookup.SplitList(c.MyDestination), " ")
	for _, tok := range relayToks {
		if strings.HasPrefix(tok, "#") {
			break
		}
		if strings.Contains(tok, ":") || strings.HasPrefix(tok, "/") || strings.HasPrefix(tok, "!") {
			continue
		}
		name := strings.TrimSuffix(lookup.FoldKey(tok), ".")
		if strings.HasSuffix(tok, ".") {
			p.warn("relay_domains", fmt.Sprintf("%q ends in a dot: Postfix 3.7 matches no domain with it, policy matches %q; "+
				"write it without the dot", tok, name))
		}
		if strings.HasPrefix(name, ".") && p.isParent("relay_domains") {
			p.warn("relay_domains", fmt.Sprintf("%q matches nothing: relay_domains is in parent_domain_matches_subdomains, "+
				"so %q already covers its subdomains", tok, strings.TrimPrefix(name, ".")))
			continue
		}
		for _, o := range []struct {
			param string
			l     *lookup.List
		}{{"mydestination", p.domains.MyDestination}, {"virtual_alias_domains", p.domains.VirtualAliasDomains},
			{"virtual_mailbox_domains", p.domains.VirtualMailboxDomains}} {
			if sameAsLocal && o.param == "mydestination" {
				continue
			}
			if m, err := o.l.MatchDomain(ctx, name); err == nil && m {
				p.warn("relay_domains", fmt.Sprintf("do not list domain %s in BOTH %s and relay_domains: %s wins and the domain is never relayed",
					name, o.param, o.param))
			}
		}
	}
	if strings.TrimSpace(c.RelayDomains) != "" && len(p.relayRcpt.all) == 0 {
		p.warn("relay_recipient_maps", "empty: every localpart of a relay domain is accepted, and mail to unknown users "+
			"will bounce to forged senders (backscatter); list the valid recipients")
	}
	for _, t := range p.relayRcpt.all {
		for _, e := range tableEntries(t) {
			if !strings.Contains(e.Key, "@") {
				p.warn("relay_recipient_maps", fmt.Sprintf("%s: key %q has no '@' and never matches (relay_recipient_maps looks up addresses and @domain, never a bare domain); write \"@%s\" for a whole domain",
					lookup.Name(t), e.Key, e.Key))
			}
		}
	}
	if c.AllowUntrustedRouting {
		p.warn("allow_untrusted_routing", "yes: source-routed recipients (user%host@, host!user@, \"a@b\"@) of your domains "+
			"are authorised destinations and can be used to relay elsewhere")
	}
	if len(p.relayRcpt.all) > 0 && !p.rejectUnlisted && !p.listsHave("reject_unlisted_recipient") {
		p.warn("smtpd_reject_unlisted_recipient", "no, and no reject_unlisted_recipient in the restriction lists: "+
			"relay_recipient_maps is never consulted and unknown recipients are accepted (backscatter)")
	}
	for i := listRelay; i <= listRecipient; i++ {
		if i == listRecipient && p.unauthIn(listRelay) {
			// smtpd_relay_restrictions refuses unauthorised destinations
			// before this list can permit them.
			break
		}
		before := true
		for _, s := range p.lists[i] {
			switch s.name {
			case "reject_unauth_destination", "defer_unauth_destination":
				before = false
			case "check_policy_service", "permit", "check_recipient_access", "check_client_access", "check_sender_access", "check_helo_access":
				if before && p.unauthIn(i) {
					p.warn(listParams[i], fmt.Sprintf("%s before reject_unauth_destination: what it permits is relayed to any destination (open relay risk)", s.name))
				}
			}
		}
	}
}

// listsHave reports whether a restriction list or class names name.
func (p *Policy) listsHave(name string) bool {
	for _, l := range p.lists {
		for _, s := range l {
			if s.name == name {
				return true
			}
		}
	}
	for _, l := range p.classes {
		for _, s := range l {
			if s.name == name {
				return true
			}
		}
	}
	return false
}

// unauthIn reports whether list i holds the unauth destination check.
func (p *Policy) unauthIn(i int) bool {
	for _, s := range p.lists[i] {
		if s.name == "reject_unauth_destination" || s.name == "defer_unauth_destination" {
			return true
		}
	}
	return false
}

// tableEntries lists a table's entries when it is held in memory anyway
// (hash:, texthash:, Go maps); cdb: tables are not read whole.
func tableEntries(t lookup.Table) []lookup.Entry {
	switch t := t.(type) {
	case lookup.CDBTable:
		return nil
	case interface{ All() []lookup.Entry }:
		return t.All()
	case interface {
		All() ([]lookup.Entry, error)
	}:
		es, _ := t.All()
		return es
	}
	return nil
}

var _ io.Closer = (*Policy)(nil)
