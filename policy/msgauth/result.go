package msgauth

import (
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// Result is an authentication result, as RFC 8601 section 2.7 names
// them.
type Result string

// The results of SPF, DKIM and DMARC.
const (
	Pass      Result = "pass"
	Fail      Result = "fail"
	SoftFail  Result = "softfail" // SPF only
	Neutral   Result = "neutral"  // SPF only
	None      Result = "none"
	TempError Result = "temperror"
	PermError Result = "permerror"
)

// Action is what happens to a message after its authentication.
type Action int

// The actions. The zero Action is never returned; in Config it means
// the field's default.
const (
	// Annotate accepts the message; the results are in its
	// Authentication-Results header only.
	Annotate Action = iota + 1
	// Hold accepts the message into the hold queue (Postfix's HOLD
	// action), where an operator releases or deletes it.
	Hold
	// Reject refuses the message at the end of DATA with "550 5.7.1".
	Reject
)

// String returns the action's main.cf name.
func (a Action) String() string {
	switch a {
	case Annotate:
		return "annotate"
	case Hold:
		return "hold"
	case Reject:
		return "reject"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// ParseAction parses an action's name: "annotate", "hold" or "reject".
func ParseAction(s string) (Action, error) {
	for _, a := range []Action{Annotate, Hold, Reject} {
		if strings.EqualFold(s, a.String()) {
			return a, nil
		}
	}
	return 0, fmt.Errorf("msgauth: unknown action %q (annotate, hold or reject)", s)
}

// Results is what Check found about one message, for the
// Authentication-Results header, the delivery log and Config.Decide.
type Results struct {
	// AuthservID names us in the header (RFC 8601 section 2.5).
	AuthservID string
	// SPF is the MAIL FROM identity's check, HeloSPF the HELO
	// identity's. Either is nil when not checked: the client is a
	// trusted forwarder (SPFSkipped), the HELO name is not a domain, or
	// the sender is null (then HeloSPF stands for it, RFC 7208 section
	// 2.4).
	SPF, HeloSPF *SPFResult
	// SPFSkipped is true when the client is a trusted forwarder.
	SPFSkipped bool
	// DKIM has one result per DKIM-Signature field verified, in header
	// order; empty when the message is not signed.
	DKIM []DKIMResult
	// DMARC is the DMARC evaluation.
	DMARC DMARCResult
	// Action is what happens to the message: Config.Decide's answer, or
	// the configured action for a DMARC failure under the domain's
	// policy, or Annotate.
	Action Action
}

// Field returns the Authentication-Results header field, one result per
// line, without the final CRLF.
func (r *Results) Field() string {
	var parts []authres.Result
	for _, k := range r.DKIM {
		// authres's DKIMResult has no header.s (RFC 8601 section 2.7.1).
		params := map[string]string{"header.d": clean(k.Domain), "header.i": clean(k.Identifier), "header.s": clean(k.Selector)}
		if k.Result == Fail || k.Result == PermError {
			params["reason"] = clean(k.Reason)
		}
		parts = append(parts, &authres.GenericResult{Method: "dkim", Value: authres.ResultValue(k.Result), Params: params})
	}
	if len(r.DKIM) == 0 {
		parts = append(parts, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, s := range []*SPFResult{r.SPF, r.HeloSPF} {
		if s == nil {
			continue
		}
		p := &authres.SPFResult{Value: authres.ResultValue(s.Result)}
		if s.Identity == "helo" {
			p.Helo = clean(s.Domain)
		} else {
			p.From = clean(s.Domain)
		}
		parts = append(parts, p)
	}
	dm := &authres.DMARCResult{Value: authres.ResultValue(r.DMARC.Result), From: clean(r.DMARC.From)}
	if r.DMARC.Result == Fail {
		dm.Reason = "p=" + string(r.DMARC.Policy)
	}
	parts = append(parts, dm)
	id := clean(r.AuthservID)
	var b strings.Builder
	b.WriteString("Authentication-Results: ")
	b.WriteString(id)
	for _, p := range parts {
		s := authres.Format(id, []authres.Result{p})
		b.WriteString(";\r\n\t")
		b.WriteString(strings.TrimSpace(strings.TrimPrefix(s, id+"; ")))
	}
	return b.String()
}

// clean keeps what a header value may carry from a peer: printable
// ASCII without quotes and backslashes, at most 200 bytes.
func clean(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 200; i++ {
		if c := s[i]; c >= ' ' && c < 0x7f && c != '"' && c != '\\' {
			b.WriteByte(c)
		}
	}
	return b.String()
}
