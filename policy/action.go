package policy

import (
	"context"
	"strconv"
	"strings"
)

// tableResult is Postfix's check_table_result: what an access table value,
// a policy server action or a Check result means (access(5)).
func (s *state) tableResult(ctx context.Context, value string, why Reason, subj subject) status {
	p := s.p
	cmd, text := value, ""
	if i := strings.IndexAny(value, " \t"); i >= 0 {
		cmd, text = value[:i], strings.TrimLeft(value[i:], " \t")
	}
	class := subjClass[subj]
	or := func(t, def string) string {
		if t == "" {
			return def
		}
		return t
	}
	switch {
	case allDigits(value):
		return s.permit(why)
	case strings.EqualFold(cmd, "OK"), strings.EqualFold(cmd, "RELAY"):
		return s.permit(why)
	case strings.EqualFold(cmd, "DUNNO"):
		return dunno
	case strings.EqualFold(cmd, "REJECT"):
		dsn, t := dsnSplit("5.7.1", text)
		return s.reject(errPolicy, p.mapReject, dsnFix(dsn, class), s.rejectText(subj, or(t, "Access denied")), why)
	case strings.EqualFold(cmd, "DEFER"):
		dsn, t := dsnSplit("4.7.1", text)
		return s.reject(errPolicy, p.mapDefer, dsnFix(dsn, class), s.rejectText(subj, or(t, "Access denied")), why)
	case strings.EqualFold(cmd, "DEFER_IF_PERMIT"), strings.EqualFold(cmd, "DEFER_IF_REJECT"):
		dsn, t := dsnSplit("4.7.1", text)
		pd := &s.dip
		if len(cmd) == len("DEFER_IF_REJECT") && strings.EqualFold(cmd[9:], "REJECT") {
			pd = &s.dir
		}
		s.deferIf(pd, errPolicy, p.mapDefer, dsnFix(dsn, class), s.rejectText(subj, or(t, "Service unavailable")), why)
		return dunno
	case len(cmd) == 3 && text != "" && (cmd[0] == '4' || cmd[0] == '5') && allDigits(cmd):
		code, _ := strconv.Atoi(cmd)
		dsn, t := dsnSplit(cmd[:1]+".7.1", text)
		return s.reject(errPolicy, code, dsnFix(dsn, class), s.rejectText(subj, or(t, "Access denied")), why)
	case strings.EqualFold(cmd, "DISCARD"):
		s.discard = true
		s.d.Actions = append(s.d.Actions, Action{Kind: ActionDiscard, Value: text, Reason: why,
			Log: "<" + s.replyName(subj) + ">: " + class + " " + or(text, "triggers DISCARD action")})
		return s.permit(why)
	case strings.EqualFold(cmd, "HOLD"):
		s.d.Hold = true
		s.d.Actions = append(s.d.Actions, Action{Kind: ActionHold, Value: text, Reason: why,
			Log: "<" + s.replyName(subj) + ">: " + class + " " + or(text, "triggers HOLD action")})
		return dunno
	case strings.EqualFold(cmd, "WARN"), strings.EqualFold(cmd, "INFO"):
		k := ActionWarn
		if cmd[0] == 'I' || cmd[0] == 'i' {
			k = ActionInfo
		}
		// Debug: the relay logs the action with the session's fields, as
		// Postfix's smtpd does (relay/maillog).
		p.log.Debug(strings.ToLower(cmd), "text", text, "reason", why.String())
		s.d.Actions = append(s.d.Actions, Action{Kind: k, Value: text, Reason: why, Log: text})
		return dunno
	case strings.EqualFold(cmd, "FILTER"):
		// smtpd_check.c: without transport:destination the entry is
		// logged and skipped; the last FILTER of a transaction wins.
		if !strings.Contains(text, ":") {
			p.log.Warn("access table " + why.Table + " entry \"" + why.Key + "\" requires transport:destination")
			return dunno
		}
		s.d.Actions = append(s.d.Actions, Action{Kind: ActionFilter, Value: text, Reason: why,
			Log: "<" + s.replyName(subj) + ">: " + class + " triggers FILTER " + text})
		return dunno
	case strings.EqualFold(cmd, "REDIRECT"), strings.EqualFold(cmd, "BCC"):
		// smtpd_check.c: without user@domain the entry is logged and
		// skipped; the last REDIRECT of a transaction wins, every BCC
		// adds a recipient.
		if !strings.Contains(text, "@") {
			p.log.Warn("access table " + why.Table + " entry \"" + why.Key + "\" requires user@domain target")
			return dunno
		}
		k, name := ActionRedirect, "REDIRECT"
		if len(cmd) == 3 {
			k, name = ActionBCC, "BCC"
		}
		s.d.Actions = append(s.d.Actions, Action{Kind: k, Value: text, Reason: why,
			Log: "<" + s.replyName(subj) + ">: " + class + " triggers " + name + " " + text})
		return dunno
	case strings.EqualFold(cmd, "PREPEND"):
		if !strings.Contains(text, ":") {
			return s.serverError("access table " + why.Table + " entry " + why.Key + " has " + cmd + " action without valid argument")
		}
		s.d.Actions = append(s.d.Actions, Action{Kind: ActionPrepend, Value: text, Reason: why})
		return dunno
	}
	// Anything else is a restriction list: a class or restriction names,
	// without table lookups.
	if strings.Contains(value, ":") {
		return s.serverError("access table " + why.Table + " entry " + why.Key + " has a table lookup in its value: " + value)
	}
	l, err := p.compile(ctx, "access table value", value, false)
	if err != nil {
		return s.serverError(err.Error())
	}
	return s.run(ctx, l, subj)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
