package policy

import (
	"context"
	"log/slog"
	"net"
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

// DefaultRBLReply is default_rbl_reply's default in Postfix 3.7.
const DefaultRBLReply = "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using $rbl_domain${rbl_reason?; $rbl_reason}"

// DefaultRelayRestrictions is smtpd_relay_restrictions' default at
// compatibility_level >= 1.
const DefaultRelayRestrictions = "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"

// Config holds the main.cf parameters policy implements, one field per
// parameter, named after it (relay_domains is RelayDomains). List and table
// parameters are written as in main.cf ("backup.example, hash:/etc/x",
// "cdb:/etc/postfix/relay_recipients"); restriction lists too
// ("permit_mynetworks, reject_unauth_destination"). relay.PolicyConfig
// fills a Config from a main.cf file.
//
// Zero values: where Postfix's default makes sense for an embedded relay,
// the zero value is that default and the field says so. Where Postfix's
// default depends on the machine (mydestination, mynetworks), the zero
// value is empty and relay.PolicyConfig applies Postfix's default.
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
	// SMTPDRejectUnlistedSender is smtpd_reject_unlisted_sender: every
	// sender restriction list ends with reject_unlisted_sender. Default
	// no, as Postfix.
	SMTPDRejectUnlistedSender Flag
	// MultiRecipientBounceRejectCode is multi_recipient_bounce_reject_code
	// (reject_multi_recipient_bounce). Default 550.
	MultiRecipientBounceRejectCode int
	// SMTPDSenderLoginMaps is smtpd_sender_login_maps: opened (so that a
	// missing table is found at start) but never consulted, since the
	// *_sender_login_mismatch restrictions need SASL, which mxrelay's
	// SMTP server does not offer; Postfix without SASL ignores them too.
	SMTPDSenderLoginMaps string
	// PermitMXBackupNetworks is permit_mx_backup_networks: when set,
	// permit_mx_backup permits only domains whose best MX hosts have
	// all their addresses in it (networks, addresses, host names, tables,
	// as mynetworks). Default empty: no such requirement.
	PermitMXBackupNetworks string
	// MyNetworks is mynetworks: trusted clients for permit_mynetworks.
	// Default empty: no client is trusted (Postfix: the machine's own
	// addresses, mynetworks_style = host).
	MyNetworks string
	// RelayDomains is relay_domains. Default empty, as Postfix at
	// compatibility_level >= 2.
	RelayDomains string
	// VirtualAliasDomains and VirtualMailboxDomains are the virtual
	// domain lists. Default empty (Postfix: $virtual_alias_maps and
	// $virtual_mailbox_maps; relay.PolicyConfig applies these).
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
	// NoUnknownRecipientChecks turns reject_unlisted_recipient and
	// reject_unlisted_sender, explicit and implicit, into no-ops, as
	// Postfix's receive_override_options = no_unknown_recipient_checks
	// does on a content filter's reinjection listener. Default false.
	NoUnknownRecipientChecks bool
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
	UnknownClientRejectCode         int           // unknown_client_reject_code [450]
	UnknownHostnameRejectCode       int           // unknown_hostname_reject_code [450]
	MapsRBLRejectCode               int           // maps_rbl_reject_code [554]: $rbl_code
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
	// A table of your own receives keys folded to lower case, as Postfix
	// gives them to its fixed-key tables: "bob+tag@example.com" and
	// "@example.com" when the client wrote "Bob+tag@Example.COM"
	// (lookup.Folded; lookup.KeysAsGiven opts out), and each lookup is
	// bounded by Open.LookupTimeout (lookup.Bounded; default 10s), past
	// which it answers "451 4.3.0 Temporary lookup failure".
	Tables map[string]lookup.Table
	// Open is used to open the other tables. Nil: lookup's defaults.
	Open *lookup.OpenOptions
	// Restrictions adds restriction names usable in the lists, backed by
	// Go code: {"check_my_users": policy.CheckFunc(...)}.
	Restrictions map[string]Check
	// Verifier answers reject_unverified_recipient and
	// reject_unverified_sender (Postfix's verify(8)); lists naming them
	// need it. UnverifiedRecipient and UnverifiedSender are their
	// replies (unverified_recipient_* and unverified_sender_*).
	Verifier                              Verifier
	UnverifiedRecipient, UnverifiedSender Unverified
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
	// DNS answers the DNS questions of the DNS list restrictions
	// (reject_rbl_client, reject_rhsbl_*, permit_dnswl_client,
	// permit_rhswl_client) and reject_unknown_helo_hostname. A list that
	// names one of them needs it.
	DNS DNS
	// DNSTimeout bounds each DNS question of a restriction; past it the
	// question has failed (a temporary failure). Default 30s; no Postfix
	// parameter (Postfix's resolver retries per resolv.conf).
	DNSTimeout time.Duration
	// Network is inet_protocols as an address family choice: "ip4",
	// "ip6" or "ip" (both). The host addresses that
	// check_*_{mx,ns,a}_access and permit_mx_backup look up are of these
	// families, as Postfix's hostname_to_sockaddr. Default "ip".
	Network string
	// SMTPDPeernameLookup is smtpd_peername_lookup: LookupClientNames
	// asks DNS. Default yes.
	SMTPDPeernameLookup Flag

	// RBLReplyMaps is rbl_reply_maps: reply templates by DNS list, looked
	// up as the list is written in the restriction ("zen.example" or
	// "zen.example=127.0.0.[2..11]"). Default empty.
	RBLReplyMaps string
	// DefaultRBLReply is default_rbl_reply, unexpanded: the reply to a
	// listed client, with the $rbl_code, $rbl_domain, $rbl_reason,
	// $rbl_txt, $rbl_what and $rbl_class macros and smtpd's own
	// ($client_address, $helo_name, $sender...). Default Postfix's
	// DefaultRBLReply.
	DefaultRBLReply string
	// UnknownAddressTempfailAction is unknown_address_tempfail_action:
	// what reject_unknown_sender_domain and
	// reject_unknown_recipient_domain do when DNS fails: "defer_if_permit"
	// (the default, as Postfix's reject_tempfail_action) or "defer".
	UnknownAddressTempfailAction string
	// UnknownHeloHostnameTempfailAction is
	// unknown_helo_hostname_tempfail_action, the same for
	// reject_unknown_helo_hostname.
	UnknownHeloHostnameTempfailAction string
	// Dial connects to policy servers. Default net.Dialer.DialContext.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Now is the clock for policy server connection lifetimes. Default
	// time.Now.
	Now func() time.Time
	// Logger receives warnings (WARN actions, warn_if_reject, table
	// and policy server failures). Nil discards them.
	Logger *slog.Logger
}
