package policy

import "time"

// status is the result of one restriction (Postfix SMTPD_CHECK_*).
type status int8

const (
	dunno status = iota
	permitted
	rejected
)

// errClass is Postfix's MAIL_ERROR_* class of a rejection: policy and
// bounce rejections may be turned into warnings by warn_if_reject,
// software and resource errors may not.
type errClass int8

const (
	errPolicy errClass = iota
	errBounce
	errSoftware
	errResource
	errProtocol
)

// subject is what a reply names: the client, the HELO name, the sender,
// the recipient or the DATA command.
type subject int8

const (
	subjClient subject = iota
	subjHelo
	subjSender
	subjRcpt
	subjData
	subjRevClient // the unverified client name (check_reverse_client_hostname_*)
)

var subjClass = [...]string{subjClient: classClient, subjHelo: classHelo, subjSender: classSender, subjRcpt: classRecipient, subjData: classData, subjRevClient: classRevClient}

// pending is a remembered defer_if_permit or defer_if_reject.
type pending struct {
	active bool
	class  errClass
	code   int
	dsn    string
	text   string
	reason Reason
}

// state is one evaluation (Postfix's SMTPD_STATE, for one command).
type state struct {
	p                     *Policy
	req                   *Request
	rcpt                  Address
	sender                Address // valid once senderDone
	senderDone, senderErr bool
	hasRcpt               bool
	res                   resolution
	warnIf                int // recursion level of an active warn_if_reject, 0 when none
	recursion             int
	dip, dir              pending
	discard               bool
	rcptDone              bool      // reject_unlisted_recipient ran (not in warn mode)
	senderRcptDone        bool      // reject_unlisted_sender ran (not in warn mode)
	list                  subject   // the stage whose list runs (smtpd_check.c def_acl)
	dnsDeadline           time.Time // the end of a restriction's DNS budget (dnsBudget); zero: none
	d                     Decision
}

// newStage starts a protocol stage's restrictions, as Postfix's
// SMTPD_CHECK_RESET: a defer_if_reject and warn_if_reject of an earlier
// stage do not carry over (a defer_if_permit does; golden lab deferif).
func (s *state) newStage() {
	s.dir, s.warnIf, s.recursion = pending{}, 0, 0
}

// from parses the sender on first use (at RCPT most decisions never look
// at it). ok is false when it does not parse.
func (s *state) from() (a Address, ok bool) {
	if !s.senderDone {
		s.senderDone = true
		var err error
		s.sender, err = ParseAddress(s.req.Sender, s.req.SMTPUTF8)
		s.senderErr = err != nil
	}
	return s.sender, !s.senderErr
}

// badSender is 501 5.1.7 for a sender that does not parse, found by a
// restriction that needs it.
func (s *state) badSender() status {
	_, err := ParseAddress(s.req.Sender, s.req.SMTPUTF8)
	s.d.Err = err
	return s.reject(errSoftware, 501, "5.1.7", "Bad sender address syntax", Reason{Restriction: "address syntax"})
}
