package policy

import (
	"context"
	"errors"
	"strconv"
	"strings"
)

// Verifier answers reject_unverified_recipient and
// reject_unverified_sender: whether an address is deliverable, as
// Postfix's verify(8) learns it by sending a probe to the next hop the
// mail would take and caching the answer (address_verify_map). relay
// provides one that probes through transport.
type Verifier interface {
	// Verify returns what is known of address now. It may wait a
	// little for a probe it started (Postfix's address_verify_poll_*),
	// then answers VerifyUnknown. An error is a failure of the
	// verification service itself (its tempfail action applies).
	Verify(ctx context.Context, address string) (Verification, error)
}

// VerifierFunc adapts a function to Verifier.
type VerifierFunc func(ctx context.Context, address string) (Verification, error)

// Verify calls f.
func (f VerifierFunc) Verify(ctx context.Context, address string) (Verification, error) {
	return f(ctx, address)
}

// VerifyStatus is what a probe found.
type VerifyStatus int

// The verification statuses.
const (
	// VerifyUnknown: no answer yet, a probe is under way.
	VerifyUnknown VerifyStatus = iota
	// VerifyDeliverable: the next hop accepted the address.
	VerifyDeliverable
	// VerifyUndeliverable: the next hop refused it for good (5xx, or a
	// permanent routing or DNS failure).
	VerifyUndeliverable
	// VerifyDeferred: the probe failed temporarily (the next hop is
	// down, answered 4xx, DNS failed).
	VerifyDeferred
)

// Verification is the answer for one address.
type Verification struct {
	Status VerifyStatus
	// Reason is the probe's outcome as Postfix reports it: "host
	// mx.example.com[192.0.2.1] said: 550 5.1.1 ... (in reply to RCPT
	// TO command)", "connect to ...: Connection refused".
	Reason string
}

// Unverified configures the replies of reject_unverified_recipient
// (unverified_recipient_*) or reject_unverified_sender
// (unverified_sender_*).
type Unverified struct {
	// RejectCode answers an undeliverable address. Default 450, as
	// Postfix's unverified_recipient_reject_code and
	// unverified_sender_reject_code; a backup MX sets 550.
	RejectCode int
	// DeferCode answers an address whose probe failed temporarily or
	// has not answered yet. Default 450, as unverified_*_defer_code.
	DeferCode int
	// TempfailAction is what a failure of the Verifier itself does:
	// "defer_if_permit" (the default, as unverified_*_tempfail_action)
	// or "defer".
	TempfailAction string
	// RejectReason replaces the text after "... address rejected: " of
	// an undeliverable address (unverified_*_reject_reason). Empty:
	// Postfix's "undeliverable address: REASON".
	RejectReason string
}

// verifyNames are the address verification restrictions.
func isVerify(name string) bool {
	return name == "reject_unverified_recipient" || name == "reject_unverified_sender"
}

// checkUnverified validates one Unverified and fills its defaults.
func checkUnverified(u *Unverified, prefix string) error {
	if u.RejectCode == 0 {
		u.RejectCode = 450
	}
	if u.DeferCode == 0 {
		u.DeferCode = 450
	}
	if u.RejectCode < 400 || u.RejectCode > 599 {
		return &ConfigError{prefix + "_reject_code", errors.New("must be 4xx or 5xx")}
	}
	if u.DeferCode < 400 || u.DeferCode > 499 {
		return &ConfigError{prefix + "_defer_code", errors.New("must be 4xx")}
	}
	switch strings.ToLower(u.TempfailAction) {
	case "", "defer_if_permit", "defer":
	default:
		return &ConfigError{prefix + "_tempfail_action", errors.New("unknown value " + strconv.Quote(u.TempfailAction) + "; use defer_if_permit or defer")}
	}
	return nil
}

// unverified is Postfix's reject_unverified_address (smtpd_check.c) for
// the recipient or, with subjSender, the sender: a deliverable address
// passes; an undeliverable one is refused with the reject code; one
// whose probe failed for now, or is still under way, gets the defer
// code. The null sender is never verified.
func (s *state) unverified(ctx context.Context, subj subject, why Reason) status {
	addr, u, dsn := s.rcpt.String(), s.p.cfg.UnverifiedRecipient, "1.1"
	if subj == subjSender {
		sender, ok := s.from()
		if !ok {
			return s.badSender()
		}
		if sender.IsNull() {
			return dunno
		}
		addr, u, dsn = sender.String(), s.p.cfg.UnverifiedSender, "1.7"
	}
	v, err := s.p.cfg.Verifier.Verify(ctx, addr)
	if err != nil {
		s.p.log.Warn("address verification service failure", "address", addr, "err", err)
		now := strings.EqualFold(u.TempfailAction, "defer")
		return s.tempfail(err, now, errPolicy, 450, "4."+dsn, s.rejectText(subj, "address verification problem"), why)
	}
	switch v.Status {
	case VerifyDeliverable:
		return dunno
	case VerifyUndeliverable:
		text := "undeliverable address: " + v.Reason
		if u.RejectCode < 500 {
			text = "unverified address: " + v.Reason
		}
		if u.RejectReason != "" {
			text = u.RejectReason
		}
		return s.reject(errPolicy, u.RejectCode, strconv.Itoa(u.RejectCode/100)+"."+dsn, s.rejectText(subj, text), why)
	case VerifyDeferred:
		return s.reject(errPolicy, u.DeferCode, "4."+dsn, s.rejectText(subj, "unverified address: "+v.Reason), why)
	}
	return s.reject(errPolicy, u.DeferCode, "4."+dsn, s.rejectText(subj, "unverified address: Address verification in progress"), why)
}
