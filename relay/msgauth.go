package relay

import (
	"bytes"
	"io"
	"log/slog"

	"github.com/mxrelay/mxrelay/policy/msgauth"
	"github.com/mxrelay/mxrelay/relay/maillog"
)

// authenticate reads the whole message from dr, checks its SPF, DKIM
// and DMARC with Config.Auth, and returns what to store after our
// headers: the Authentication-Results field (RFC 8601) first, then the
// message without any Authentication-Results field that claims our
// authserv-id (RFC 8601 section 5: it is forged). hold is true when the
// result is to be held; a DMARC reject is a 550 5.7.1 *Error. The
// message is read into memory, within message_size_limit (dr's limit).
func (s *session) authenticate(dr io.Reader) (msg io.Reader, hold bool, rerr *Error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(dr); err != nil {
		return nil, false, s.dataError(err)
	}
	a := s.r.c.Auth
	res := a.Check(s.ctx, msgauth.Message{ClientAddr: s.clientAddr, Helo: s.helo, Sender: s.sender, Data: buf.Bytes()})
	s.logAuth(res)
	switch res.Action {
	case msgauth.Reject:
		return nil, false, &Error{Code: 550, Status: "5.7.1",
			Message: "Message rejected: the DMARC policy of " + res.DMARC.From + " is reject"}
	case msgauth.Hold:
		hold = true
	}
	field := res.Field() + "\r\n"
	return io.MultiReader(bytes.NewReader([]byte(field)), bytes.NewReader(msgauth.StripForged(buf.Bytes(), a.AuthservID()))), hold, nil
}

// logAuth logs the results for the delivery log, one line per message.
func (s *session) logAuth(r *msgauth.Results) {
	spf := "none"
	switch {
	case r.SPFSkipped:
		spf = "skipped"
	case r.SPF != nil:
		spf = string(r.SPF.Result)
	case r.HeloSPF != nil:
		spf = string(r.HeloSPF.Result)
	}
	dkim := "none"
	for i, k := range r.DKIM {
		if i == 0 {
			dkim = ""
		} else {
			dkim += ","
		}
		dkim += string(k.Result)
	}
	s.r.log.LogAttrs(s.ctx, slog.LevelInfo, "message authentication", slog.String(maillog.KeyQueueID, string(s.queueID)),
		slog.String(maillog.KeyClient, s.clientString()), slog.String("spf", spf), slog.String("dkim", dkim),
		slog.String("dmarc", string(r.DMARC.Result)), slog.String("dmarc_from", r.DMARC.From),
		slog.String("dmarc_policy", string(r.DMARC.Policy)), slog.String("action", r.Action.String()))
}
