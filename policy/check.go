package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Check decides one Request. The Decision is never an error: table and
// policy server failures are 4xx decisions with Err set.
//
// A programming mistake is a Defer "451 4.3.5 Server configuration error"
// with Err saying what is wrong, never a panic: a nil Policy or Request,
// or a Request whose Stage is not one of StageConnect...StageData (the
// zero Stage included).
func (p *Policy) Check(ctx context.Context, req *Request) Decision {
	if err := checkCall(p, req); err != nil {
		return misuse(err)
	}
	s := state{p: p, req: req}
	if req.Stage == StageMail {
		a, err := ParseAddress(req.Sender, req.SMTPUTF8)
		if err == nil && strings.IndexByte(a.Local, '@') >= 0 {
			// As at RCPT: a local sender whose localpart routes to an
			// invalid domain ("u@1.2.3.4"@local) does not resolve.
			var r resolution
			if p.resolveAddr(ctx, &r, a, req.SMTPUTF8); r.bad {
				err = syntaxError(req.Sender, "localpart routes to an invalid domain")
			}
		}
		if err != nil {
			return p.final(&s, Decision{Verdict: Reject, Code: 501, Enhanced: "5.1.7", Text: "Bad sender address syntax", Err: err,
				Reason: Reason{Restriction: "address syntax"}})
		}
	}
	switch req.Stage {
	case StageConnect:
		if p.delayReject {
			return Decision{}
		}
		return p.stageResult(&s, s.run(ctx, p.lists[listClient], subjClient), req.Stage)
	case StageHelo:
		if p.delayReject {
			return Decision{}
		}
		return p.stageResult(&s, s.run(ctx, p.lists[listHelo], subjHelo), req.Stage)
	case StageMail:
		if req.Size > p.sizeLimit {
			return p.final(&s, Decision{Verdict: Reject, Code: 552, Enhanced: "5.3.4", Text: "Message size exceeds fixed limit",
				Reason: Reason{Restriction: "message_size_limit"}})
		}
		if p.delayReject {
			return Decision{}
		}
		return p.stageResult(&s, s.senderStage(ctx), req.Stage)
	case StageRcpt:
		return p.checkRcpt(ctx, &s)
	case StageData:
		// Postfix knows the recipient at DATA only when there is exactly
		// one; recipient restrictions in smtpd_data_restrictions then
		// apply to it (checked against Postfix 3.7 smtpd).
		if req.RecipientCount == 1 && req.Recipient != "" {
			if a, err := ParseAddress(req.Recipient, req.SMTPUTF8); err == nil && !a.IsNull() {
				s.rcpt, s.hasRcpt = a, true
			}
		}
		return p.stageResult(&s, s.run(ctx, p.lists[listData], subjData), req.Stage)
	}
	return misuse(fmt.Errorf("policy: Request.Stage %v is not handled", req.Stage)) // unreachable: checkCall
}

// misuse is the Decision for a programming mistake: 451 4.3.5, as for a
// configuration error, with err for the log.
func misuse(err error) Decision {
	return Decision{Verdict: Defer, Code: 451, Enhanced: "4.3.5", Text: "Server configuration error",
		Reason: Reason{Restriction: "configuration", Value: err.Error()}, Err: err}
}

// checkCall refuses the programming mistakes Check would trip over.
func checkCall(p *Policy, req *Request) error {
	switch {
	case p == nil:
		return errors.New("policy: Check called on a nil *Policy; make one with policy.New")
	case req == nil:
		return errors.New("policy: Check called with a nil *Request")
	case req.Stage == 0:
		return errors.New("policy: Request.Stage is not set; set it to StageConnect, StageHelo, StageMail, StageRcpt or StageData")
	case req.Stage < StageConnect || req.Stage > StageData:
		return fmt.Errorf("policy: Request.Stage %d is not a stage; set it to StageConnect, StageHelo, StageMail, StageRcpt or StageData", int(req.Stage))
	}
	return nil
}

// stageResult turns the status of a non-RCPT stage into a Decision.
func (p *Policy) stageResult(s *state, st status, stage Stage) Decision {
	if st != rejected && s.dip.active {
		st = s.reject(s.dip.class, s.dip.code, s.dip.dsn, s.dip.text, s.dip.reason)
	}
	if st == rejected {
		return p.final(s, s.d)
	}
	d := okDecision(stage)
	if st == dunno {
		d = Decision{}
	}
	return p.final(s, d)
}

// final copies the side effects into the decision.
func (p *Policy) final(s *state, d Decision) Decision {
	d.Actions, d.Hold = s.d.Actions, s.d.Hold
	d.Discard = d.Discard || s.discard
	if d.Code == 421 {
		d.EndSession = true
	}
	return d
}

// badRcptSyntax is Postfix's answer to a recipient it cannot parse or
// resolve.
func badRcptSyntax(err error) Decision {
	return Decision{Verdict: Reject, Code: 501, Enhanced: "5.1.3", Text: "Bad recipient address syntax", Err: err,
		Reason: Reason{Restriction: "address syntax"}}
}

// checkRcpt is smtpd_check_rcpt followed by the implicit
// reject_unlisted_recipient (smtpd_check_rcptmap).
func (p *Policy) checkRcpt(ctx context.Context, s *state) Decision {
	req := s.req
	a, err := ParseAddress(req.Recipient, req.SMTPUTF8)
	if err == nil && a.IsNull() {
		err = syntaxError(req.Recipient, "null recipient")
	}
	if err != nil {
		return badRcptSyntax(err)
	}
	s.rcpt, s.hasRcpt = a, true
	// Postfix resolves the address before any restriction
	// (smtpd_check_addr); a localpart that routes from one of our
	// domains to an invalid one is a syntax error.
	if strings.IndexByte(a.Local, '@') >= 0 && s.resolve(ctx).bad {
		return badRcptSyntax(syntaxError(req.Recipient, "localpart routes to an invalid domain"))
	}
	if req.Discard {
		d := okDecision(StageRcpt)
		d.Discard = true
		d.Reason = Reason{Restriction: "DISCARD"}
		return d
	}
	if req.RecipientCount >= p.rcptLimit {
		return Decision{Verdict: Defer, Code: 452, Enhanced: "4.5.3", Text: "Error: too many recipients",
			Reason: Reason{Restriction: "smtpd_recipient_limit"}}
	}
	// RFC 5321 4.5.1: "postmaster" without a domain is accepted, before
	// any restriction and recipient validation, as Postfix's
	// smtpd_check_rcpt and smtpd_check_rcptmap do (golden configuration
	// review2).
	if a.Domain == "" && strings.EqualFold(a.Local, "postmaster") {
		d := okDecision(StageRcpt)
		d.Reason = Reason{Restriction: "postmaster"}
		return d
	}
	st := dunno
	if p.delayReject {
		for i, subj := range [...]subject{subjClient, subjHelo, subjSender} {
			s.newStage()
			if subj == subjSender {
				st = s.senderStage(ctx)
			} else {
				st = s.run(ctx, p.lists[listClient+i], subj)
			}
			if st == rejected {
				return p.final(s, s.d)
			}
		}
	}
	// The relay and recipient lists are one stage (smtpd_check_rcpt).
	s.newStage()
	order := [2]int{listRelay, listRecipient}
	if !p.relayFirst {
		order = [2]int{listRecipient, listRelay}
	}
	var reason Reason
	for _, i := range order {
		if st = s.run(ctx, p.lists[i], subjRcpt); st == rejected {
			break
		}
		if st == permitted {
			reason = s.d.Reason
		}
		if s.discard {
			break
		}
	}
	if st != rejected && s.dip.active && !s.discard {
		st = s.reject(s.dip.class, s.dip.code, s.dip.dsn, s.dip.text, s.dip.reason)
	}
	if st != rejected && !s.discard && p.rejectUnlisted {
		st = s.unlisted(ctx)
	}
	if st == rejected {
		return p.final(s, s.d)
	}
	d := okDecision(StageRcpt)
	d.Reason = reason
	if d.Reason.Restriction == "" {
		d.Reason = s.d.Reason
	}
	return p.final(s, d)
}
