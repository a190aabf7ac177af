package policy

import (
	"context"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// unlisted is reject_unlisted_recipient, as Postfix's check_rcpt_maps
// (smtpd_check.c) runs it: canonical and virtual alias maps, relocated_maps,
// error: and retry: routes, then the recipient map of the address class.
// It runs once per recipient; under warn_if_reject it does not count.
func (s *state) unlisted(ctx context.Context) status {
	if s.rcptDone {
		return dunno
	}
	if s.warnIf == 0 {
		s.rcptDone = true
	}
	p := s.p
	why := Reason{Restriction: "reject_unlisted_recipient"}
	r := s.resolve(ctx)
	if r.err != nil {
		return s.lookupError(r.err, subjRcpt, why)
	}
	// A recipient that canonical or virtual alias maps know is accepted
	// without looking further (check_rcpt_maps in smtpd_check.c).
	for _, m := range [...]struct {
		name   string
		tables tableList
	}{{"recipient_canonical_maps", p.rcptCanon}, {"canonical_maps", p.canon}, {"virtual_alias_maps", p.virtAlias}} {
		found, st := s.findRecipient(ctx, m.name, m.tables, why)
		if st == rejected {
			return st
		}
		if found {
			return dunno
		}
	}
	bounceCode := 550
	if r.class == lookup.ClassAlias {
		bounceCode = p.aliasCode
	}
	// relocated_maps, then error: and retry: routes, refused at RCPT as
	// Postfix refuses them (golden configurations reloc and errroute).
	if len(p.relocated.all) > 0 {
		var kb [12]lookup.Key
		res, found, err := p.relocated.search(ctx, lookup.AppendRecipientKeys(kb[:0], r.canon, s.recipientKeyOptions()))
		if err != nil {
			return s.lookupError(err, subjRcpt, why)
		}
		if found {
			why = Reason{Restriction: "relocated_maps", Table: p.cfg.RelocatedMaps, Key: res.Key.Key, Value: res.Value}
			return s.reject(errBounce, bounceCode, dsnFix("5.1.6", classRecipient),
				s.rejectText(subjRcpt, "User has moved to "+res.Value), why)
		}
	}
	if p.cfg.Routes != nil {
		tr, nexthop, err := p.cfg.Routes.Route(ctx, r.canon)
		if err != nil {
			return s.lookupError(err, subjRcpt, Reason{Restriction: "transport route"})
		}
		if tr == "error" || tr == "retry" {
			why = Reason{Restriction: "transport route", Value: tr + ":" + nexthop}
			code, def := bounceCode, "5.1.1"
			if tr == "retry" {
				code, def = 450, "4.1.1"
			}
			dsn, text := dsnSplit(def, nexthop)
			if text == "" {
				text = "Address is undeliverable"
			}
			return s.reject(errBounce, code, dsnFix(dsn, classRecipient), s.rejectText(subjRcpt, text), why)
		}
	}
	var tables tableList
	var code int
	var param, table string
	switch r.class {
	case lookup.ClassAlias:
		// The resolver gives "error:5.1.1 User unknown in virtual alias
		// table" to every address virtual_alias_maps did not rewrite.
		if p.cfg.Recipients != nil {
			return s.hook(ctx, r, p.aliasCode, "virtual alias table")
		}
		return s.unknownUser(p.aliasCode, "virtual alias table", Reason{Restriction: "reject_unlisted_recipient", Table: "virtual_alias_maps"})
	case lookup.ClassLocal:
		if p.cfg.Recipients != nil {
			return s.hook(ctx, r, p.localRcptCode, "local recipient table")
		}
		local, _ := lookup.SplitAddress(r.canon)
		for _, special := range [...]string{"double-bounce", "postmaster", "mailer-daemon"} {
			if strings.EqualFold(local, special) {
				return dunno
			}
		}
		tables, code, param, table = p.localRcpt, p.localRcptCode, "local_recipient_maps", "local recipient table"
	case lookup.ClassVirtual:
		if p.cfg.Recipients != nil {
			return s.hook(ctx, r, p.mailboxCode, "virtual mailbox table")
		}
		tables, code, param, table = p.virtMailbox, p.mailboxCode, "virtual_mailbox_maps", "virtual mailbox table"
	case lookup.ClassRelay:
		tables, code, param, table = p.relayRcpt, p.relayRcptCode, "relay_recipient_maps", "relay recipient table"
	default:
		return dunno
	}
	if len(tables.all) == 0 {
		return dunno // an empty map: no validation (postconf(5), relay_recipient_maps)
	}
	found, st := s.findRecipient(ctx, param, tables, why)
	if st == rejected || found {
		return st
	}
	return s.unknownUser(code, table, Reason{Restriction: "reject_unlisted_recipient", Table: param})
}

// unknownUser is "550 5.1.1 <a>: Recipient address rejected: User unknown in ... table".
func (s *state) unknownUser(code int, table string, why Reason) status {
	text := "User unknown"
	if s.p.showTable {
		text += " in " + table
	}
	return s.reject(errBounce, code, "5.1.1", s.rejectText(subjRcpt, text), why)
}

// hook asks Config.Recipients.
func (s *state) hook(ctx context.Context, r *resolution, code int, table string) status {
	why := Reason{Restriction: "reject_unlisted_recipient", Table: "Config.Recipients", Key: r.canon}
	known, err := s.p.cfg.Recipients.Known(ctx, r.class, r.canon)
	if err != nil {
		return s.lookupError(err, subjRcpt, why)
	}
	if known {
		return dunno
	}
	return s.unknownUser(code, table, why)
}

// recipientKeyOptions are the key options of Postfix's mail_addr_find
// (mail_addr_find.c) for this recipient: bare localpart keys when its
// domain is local or $myorigin.
func (s *state) recipientKeyOptions() lookup.KeyOptions {
	o := s.p.keys
	if s.res.class == lookup.ClassLocal || strings.EqualFold(s.res.domain, s.p.myorig) {
		o.LocalDomain = isAnyDomain
	}
	return o
}

func isAnyDomain(string) bool { return true }

// findRecipient searches recipient maps in mail_addr_find's key order:
// user+ext@domain, user@domain, the bare localpart (local domains and
// $myorigin only), @domain; never the bare domain.
func (s *state) findRecipient(ctx context.Context, param string, tables tableList, why Reason) (bool, status) {
	if len(tables.all) == 0 {
		return false, dunno
	}
	var kb [12]lookup.Key
	r, found, err := tables.search(ctx, lookup.AppendRecipientKeys(kb[:0], s.res.canon, s.recipientKeyOptions()))
	if err != nil {
		why.Table = param
		return false, s.lookupError(err, subjRcpt, why)
	}
	if found {
		s.d.Reason = Reason{Restriction: "reject_unlisted_recipient", Table: param, Key: r.Key.Key, Value: r.Value}
	}
	return found, dunno
}

// tableList is the tables of one map parameter. Pattern tables (regexp:,
// cidr:) are asked only the complete address, as Postfix's
// mail_addr_find asks them (golden configuration regexprcpt).
type tableList struct {
	all   []lookup.Table
	fixed []lookup.Table // all without the pattern tables
	mixed bool           // some tables are pattern tables
}

func newTableList(ts []lookup.Table) tableList {
	l := tableList{all: ts}
	for _, t := range ts {
		switch t.(type) {
		case lookup.RegexpTable, lookup.CIDRTable:
			l.mixed = true
		default:
			l.fixed = append(l.fixed, t)
		}
	}
	return l
}

// search is lookup.Search over the list, pattern-major, giving pattern
// tables only the KeyAddress keys.
func (l tableList) search(ctx context.Context, keys []lookup.Key) (lookup.Result, bool, error) {
	if !l.mixed {
		return lookup.Search(ctx, l.all, keys)
	}
	for i := range keys {
		ts := l.fixed
		if keys[i].Kind == lookup.KeyAddress {
			ts = l.all
		}
		if len(ts) == 0 {
			continue
		}
		if r, found, err := lookup.Search(ctx, ts, keys[i:i+1]); found || err != nil {
			return r, found, err
		}
	}
	return lookup.Result{}, false, nil
}
