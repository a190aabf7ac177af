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
	if s.rcptDone || s.p.cfg.NoUnknownRecipientChecks {
		return dunno
	}
	if s.warnIf == 0 {
		s.rcptDone = true
	}
	return s.validate(ctx, s.resolve(ctx), subjRcpt, Reason{Restriction: "reject_unlisted_recipient"})
}

// validate is Postfix's check_rcpt_maps for the recipient or, with
// reject_unlisted_sender, the sender (resolved as r): the recipient
// tables of its address class, after canonical and virtual alias maps,
// relocated_maps and error:/retry: routes. subj names it in replies.
func (s *state) validate(ctx context.Context, r *resolution, subj subject, why Reason) status {
	p := s.p
	if r.err != nil {
		return s.lookupError(r.err, subj, why)
	}
	// A recipient that canonical or virtual alias maps know is accepted
	// without looking further (check_rcpt_maps in smtpd_check.c).
	for _, m := range [...]struct {
		name   string
		tables tableList
	}{{"recipient_canonical_maps", p.rcptCanon}, {"canonical_maps", p.canon}, {"virtual_alias_maps", p.virtAlias}} {
		found, st := s.findRecipient(ctx, r, subj, m.name, m.tables, why)
		if st == rejected {
			return st
		}
		if found {
			return dunno
		}
	}
	class := subjClass[subj]
	bounceCode := 550
	if r.class == lookup.ClassAlias {
		bounceCode = p.aliasCode
	}
	// relocated_maps, then error: and retry: routes, refused at RCPT as
	// Postfix refuses them (golden configurations reloc and errroute).
	if len(p.relocated.all) > 0 {
		var kb [12]lookup.Key
		res, found, err := p.relocated.search(ctx, lookup.AppendRecipientKeys(kb[:0], r.canon, s.recipientKeyOptions(r)))
		if err != nil {
			return s.lookupError(err, subj, why)
		}
		if found {
			why = Reason{Restriction: "relocated_maps", Table: p.cfg.RelocatedMaps, Key: res.Key.Key, Value: res.Value}
			return s.reject(errBounce, bounceCode, dsnFix("5.1.6", class),
				s.rejectText(subj, "User has moved to "+res.Value), why)
		}
	}
	if p.cfg.Routes != nil {
		tr, nexthop, err := p.cfg.Routes.Route(ctx, r.canon)
		if err != nil {
			return s.lookupError(err, subj, Reason{Restriction: "transport route"})
		}
		if tr == "error" || tr == "retry" {
			why = Reason{Restriction: "transport route", Value: tr + ":" + nexthop}
			code, def := bounceCode, "5.1.1"
			if tr == "retry" {
				code, def = 450, "4.1.1"
			}
			if subj == subjSender {
				def = def[:4] + "0"
			}
			dsn, text := dsnSplit(def, nexthop)
			if text == "" {
				text = "Address is undeliverable"
			}
			return s.reject(errBounce, code, dsnFix(dsn, class), s.rejectText(subj, text), why)
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
			return s.hook(ctx, r, subj, p.aliasCode, "virtual alias table", why)
		}
		why.Table = "virtual_alias_maps"
		text := "User unknown"
		if p.showTable {
			text += " in virtual alias table"
		}
		// The resolver's error:5.1.1 nexthop, fixed for the class (5.1.7
		// for a sender; golden lab senderchecks2).
		return s.reject(errBounce, p.aliasCode, dsnFix("5.1.1", class), s.rejectText(subj, text), why)
	case lookup.ClassLocal:
		if p.cfg.Recipients != nil {
			return s.hook(ctx, r, subj, p.localRcptCode, "local recipient table", why)
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
			return s.hook(ctx, r, subj, p.mailboxCode, "virtual mailbox table", why)
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
	found, st := s.findRecipient(ctx, r, subj, param, tables, why)
	if st == rejected || found {
		return st
	}
	why.Table = param
	return s.unknownUser(subj, code, table, why)
}

// unknownUser is "550 5.1.1 <a>: Recipient address rejected: User
// unknown in ... table" (5.1.0 "Sender address rejected" for the sender).
func (s *state) unknownUser(subj subject, code int, table string, why Reason) status {
	text := "User unknown"
	if s.p.showTable {
		text += " in " + table
	}
	dsn := "5.1.1"
	if subj == subjSender {
		dsn = "5.1.0"
	}
	return s.reject(errBounce, code, dsn, s.rejectText(subj, text), why)
}

// hook asks Config.Recipients.
func (s *state) hook(ctx context.Context, r *resolution, subj subject, code int, table string, why Reason) status {
	why.Table, why.Key = "Config.Recipients", r.canon
	known, err := s.p.cfg.Recipients.Known(ctx, r.class, r.canon)
	if err != nil {
		return s.lookupError(err, subj, why)
	}
	if known {
		return dunno
	}
	return s.unknownUser(subj, code, table, why)
}

// recipientKeyOptions are the key options of Postfix's mail_addr_find
// (mail_addr_find.c) for this recipient: bare localpart keys when its
// domain is local or $myorigin.
func (s *state) recipientKeyOptions(r *resolution) lookup.KeyOptions {
	o := s.p.keys
	if r.class == lookup.ClassLocal || strings.EqualFold(r.domain, s.p.myorig) {
		o.LocalDomain = isAnyDomain
	}
	return o
}

func isAnyDomain(string) bool { return true }

// findRecipient searches recipient maps in mail_addr_find's key order:
// user+ext@domain, user@domain, the bare localpart (local domains and
// $myorigin only), @domain; never the bare domain.
func (s *state) findRecipient(ctx context.Context, r *resolution, subj subject, param string, tables tableList, why Reason) (bool, status) {
	if len(tables.all) == 0 {
		return false, dunno
	}
	var kb [12]lookup.Key
	res, found, err := tables.search(ctx, lookup.AppendRecipientKeys(kb[:0], r.canon, s.recipientKeyOptions(r)))
	if err != nil {
		why.Table = param
		return false, s.lookupError(err, subj, why)
	}
	if found && subj == subjRcpt {
		s.d.Reason = Reason{Restriction: why.Restriction, Table: param, Key: res.Key.Key, Value: res.Value}
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
		if lookup.IsPattern(t) {
			l.mixed = true
		} else {
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
