package relay

import (
	"errors"
	"io"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
)

// Data implements smtp.Session: the message is normalised, checked and
// stored durably before the 250 reply.
func (s *session) Data(r io.Reader) error {
	err := s.data(r)
	if s.sc != nil {
		return err // afterWrite closes a session told to shut down
	}
	// Mounted in another server, no write hook tells when the reply is
	// out: a session told to shut down meanwhile writes its reply itself
	// and closes.
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if !closing {
		return err
	}
	if se, ok := err.(*smtp.SMTPError); ok {
		return s.hangUpWith(se)
	}
	return err
}

func (s *session) data(r io.Reader) error {
	// The transfer lasts until the reply is written (the 354 started it):
	// Shutdown waits for it.
	s.mu.Lock()
	s.inData = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.sc != nil {
			s.replyPending = true // afterWrite ends the transfer
		} else {
			s.inData = false
		}
		s.mu.Unlock()
	}()
	if err := s.errorGate(); err != nil {
		return err
	}
	if len(s.rcpts) == 0 {
		return s.fail(errNeedRcpt)
	}
	only := ""
	if len(s.rcpts) == 1 {
		only = s.rcpts[0].Address // Postfix knows the recipient at DATA only then
	}
	if err := s.check(policy.StageData, only); err != nil {
		return err
	}

	now := s.r.c.Now()
	addrs := make([]string, len(s.rcpts))
	for i, rc := range s.rcpts {
		addrs[i] = rc.Address
	}
	var hdr strings.Builder
	for _, p := range s.prepends {
		hdr.WriteString(sanitizeHeader(p))
		hdr.WriteString("\r\n")
	}
	hdr.WriteString(Received(ReceivedInfo{
		Helo: s.helo, ClientAddr: s.clientAddr, Hostname: s.r.c.Hostname, MailName: s.r.c.MailName,
		Protocol: receivedProtocol(s.protocol(), s.tls != nil, s.opts.UTF8), TLS: s.tls,
		QueueID: string(s.queueID), Recipients: addrs, Time: now,
	}))
	lim := DataLimits{MaxSize: s.r.MessageSizeLimit(), MaxHops: s.r.c.HopCountLimit, Bare: s.r.c.BareLineEndings}
	dr := newDataReader(r, lim)
	if s.discard {
		_, err := io.Copy(io.Discard, dr)
		id := s.queueID
		s.r.log.Info("discard", "queue_id", id, "client", s.clientString(), "from", s.sender)
		s.resetTransaction()
		if err != nil {
			return s.dataError(err)
		}
		return ok250(id)
	}
	env := &queue.Envelope{
		ID:         s.queueID,
		Sender:     s.sender,
		Recipients: s.rcpts,
		EnvID:      s.opts.EnvelopeID,
		SMTPUTF8:   s.opts.UTF8,
		Arrival:    now,
		Held:       s.hold,
	}
	switch s.opts.Return {
	case smtp.DSNReturnFull:
		env.Ret = queue.RetFull
	case smtp.DSNReturnHeaders:
		env.Ret = queue.RetHdrs
	}
	err := s.r.c.Queue.Store(s.ctx, env, io.MultiReader(strings.NewReader(hdr.String()), dr))
	id := env.ID
	nrcpt := len(s.rcpts)
	hold := s.hold
	s.resetTransaction()
	if err != nil {
		return s.dataError(err)
	}
	if hold {
		// Stored with Held set: it went straight to the hold queue.
		s.r.log.Info("hold", "queue_id", id, "client", s.clientString(), "from", "<"+env.Sender+">")
	}
	s.r.log.Info("queued", "queue_id", id, "client", s.clientString(), "from", "<"+env.Sender+">",
		"size", env.Size, "nrcpt", nrcpt)
	s.r.obs.Accepted(Accepted{QueueID: string(id), Size: env.Size, Recipients: nrcpt, Client: s.clientAddr})
	return ok250(id)
}

// ok250 is the end-of-data reply, Postfix's "250 2.0.0 Ok: queued as ID".
func ok250(id queue.ID) error {
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + string(id)}
}

// dataError maps a failed store: our own checks keep their reply, a
// client limit from go-smtp keeps Postfix's wording, anything else is a
// queue write error (4xx, without its text).
func (s *session) dataError(err error) error {
	var re *Error
	if errors.As(err, &re) {
		return s.fail(re)
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code == 552 {
		return s.fail(errTooBig)
	}
	if errors.Is(err, smtp.ErrTooLongLine) {
		return s.fail(errLineTooLong)
	}
	s.r.log.Error("queue file write error", "client", s.clientString(), "err", err)
	return s.fail(&Error{Code: errQueueWrite.Code, Status: errQueueWrite.Status, Message: errQueueWrite.Message, Err: err})
}
