package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/netip"
	"time"

	"github.com/mxrelay/mxrelay/lookup"
)

// Policy decides relay acceptance for one configuration. It is safe for
// concurrent use; Close releases policy server connections.
type Policy struct {
	cfg     Config
	opts    *lookup.OpenOptions
	log     *slog.Logger
	domains lookup.Domains
	mynet   *lookup.List
	mxNets  *lookup.List // permit_mx_backup_networks; nil when empty
	// inetAddrs are inet_interfaces' addresses (permit_inet_interfaces).
	inetAddrs []netip.Addr
	// rejectUnlistedSender is smtpd_reject_unlisted_sender.
	rejectUnlistedSender bool
	multiRcptCode        int // multi_recipient_bounce_reject_code
	myorig               string
	keys                 lookup.KeyOptions // recipient maps
	access               lookup.KeyOptions // access maps
	// maps
	relayRcpt, localRcpt, virtAlias, virtMailbox, canon, rcptCanon, relocated tableList
	lists                                                                     [6]compiled // client, helo, sender, relay, recipient, data
	classes                                                                   map[string]compiled
	services                                                                  []*policyClient
	rblReplies                                                                []lookup.Table
	rblReply                                                                  string
	rblCode, unknownClientCode, unknownNameCode                               int
	addrTempfailDefer, heloTempfailDefer                                      bool // *_tempfail_action = defer
	dnsTimeout                                                                time.Duration
	addrTypes                                                                 []RRType // A and/or AAAA, by Config.Network
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
	if err := checkUnverified(&p.cfg.UnverifiedRecipient, "unverified_recipient"); err != nil {
		return nil, err
	}
	if err := checkUnverified(&p.cfg.UnverifiedSender, "unverified_sender"); err != nil {
		return nil, err
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
	if c.PermitMXBackupNetworks != "" {
		p.mxNets = list("permit_mx_backup_networks", c.PermitMXBackupNetworks)
	}
	if err != nil {
		return nil, err
	}
	if c.Domains != nil {
		p.domains = *c.Domains
	} else if e := p.buildDomains(list); e != nil {
		return nil, e
	}
	if e := p.findInetAddrs(); e != nil {
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
	p.rblReplies = tables("rbl_reply_maps", c.RBLReplyMaps).all
	tables("smtpd_sender_login_maps", c.SMTPDSenderLoginMaps) // opened only: see Config
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
	p.rblCode = orInt(c.MapsRBLRejectCode, 554)
	p.unknownClientCode = orInt(c.UnknownClientRejectCode, 450)
	p.unknownNameCode = orInt(c.UnknownHostnameRejectCode, 450)
	p.multiRcptCode = orInt(c.MultiRecipientBounceRejectCode, 550)
	p.rejectUnlistedSender = c.SMTPDRejectUnlistedSender.on(false)
	p.dnsTimeout = orDur(c.DNSTimeout, 30*time.Second)
	switch c.Network {
	case "ip4":
		p.addrTypes = []RRType{TypeA}
	case "ip6":
		p.addrTypes = []RRType{TypeAAAA}
	case "ip", "":
		p.addrTypes = []RRType{TypeA, TypeAAAA}
	default:
		return nil, &ConfigError{"inet_protocols", fmt.Errorf("policy.Config.Network %q: want ip4, ip6 or ip", c.Network)}
	}
	if err := p.readDNSSettings(); err != nil {
		return nil, err
	}
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

// Close closes policy server connections. The Policy must not be used
// afterwards.
func (p *Policy) Close() error {
	for _, s := range p.services {
		s.close()
	}
	return nil
}

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

var _ io.Closer = (*Policy)(nil)
