package relay

import "github.com/mxrelay/mxrelay/relay/cleanup"

// accessActions adds to what header_checks and body_checks decided the
// REDIRECT and BCC actions of access tables, as Postfix's smtpd hands
// them to cleanup after the message: a REDIRECT of header_checks or
// body_checks wins over an access table's (cleanup_extracted.c: "our own
// header/body_checks information wins"; golden accessactions, case
// hredirect); every BCC is added.
func (s *session) accessActions(v cleanup.Verdict) cleanup.Verdict {
	if v.Redirect == "" {
		v.Redirect = s.redirect
	}
	if len(s.bcc) > 0 {
		v.Bcc = append(append([]string(nil), s.bcc...), v.Bcc...)
	}
	return v
}
