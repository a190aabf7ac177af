package smtpd

import (
	"context"
	"crypto/tls"
	"log/slog"
	"strings"
	"time"
)

// Config tunes the engine. The zero value gives Postfix 3.7's defaults;
// Hostname should be set.
type Config struct {
	// Hostname is $myhostname: the first line of the EHLO reply, the HELO
	// reply and the 421 replies. Default "localhost".
	Hostname string
	// Banner is the text of the greeting after "220 ". Default
	// "HOSTNAME ESMTP", as Postfix smtpd_banner without $mail_name.
	Banner string
	// Timeout bounds the wait for each command and each read of message
	// text, and each reply write. Default 300s, as Postfix smtpd_timeout.
	Timeout time.Duration
	// MaxLine caps a command line. Default 2048, as Postfix
	// line_length_limit.
	MaxLine int
	// SizeLimit is advertised in EHLO ("SIZE 10240000") and checked
	// against MAIL FROM SIZE= ("552 5.3.4 Message size exceeds fixed
	// limit"). Zero: "SIZE" without a number and no check, as Postfix's
	// message_size_limit = 0. The Session checks the message itself.
	SizeLimit int64
	// CommandFilter, when set, may replace each command line before it
	// is parsed, as Postfix smtpd_command_filter (a table keyed by the
	// line without leading blanks, whose value is the new line): it
	// returns the replacement and true, or false to keep the line. An
	// error ends the session with 421 4.3.0, never a 5xx.
	CommandFilter func(ctx context.Context, line string) (string, bool, error)
	// StrictRFC821 accepts only "<address>" in MAIL FROM and RCPT TO,
	// without a phrase or comment ("501 5.1.7 Bad sender address
	// syntax", "501 5.1.3 Bad recipient address syntax"), as Postfix
	// strict_rfc821_envelopes = yes. Default false: Postfix's lenient
	// parsing.
	StrictRFC821 bool
	// TLS enables STARTTLS. Nil: no STARTTLS.
	TLS *tls.Config
	// RequireTLS refuses every command but EHLO, HELO, NOOP, QUIT and
	// STARTTLS before STARTTLS ("530 5.7.0 Must issue a STARTTLS command
	// first"), as Postfix smtpd_tls_security_level = encrypt. An MX that
	// the Internet sends to must not set it (RFC 3207 section 4).
	RequireTLS bool
	// SoftErrorLimit is the number of errors after which each error reply
	// is delayed by ErrorSleep. Default 10, as Postfix
	// smtpd_soft_error_limit.
	SoftErrorLimit int
	// HardErrorLimit is the number of errors after which the session ends
	// with "421 4.7.0 HOSTNAME Error: too many errors". Default 20, as
	// Postfix smtpd_hard_error_limit.
	HardErrorLimit int
	// JunkCommandLimit is the number of HELO, EHLO, NOOP, RSET, VRFY and
	// ETRN commands after which each one counts as an error. Default 100,
	// as Postfix smtpd_junk_command_limit.
	JunkCommandLimit int
	// ErrorSleep is the delay of error replies past SoftErrorLimit.
	// Default 1s, as Postfix smtpd_error_sleep_time; negative: none.
	ErrorSleep time.Duration
	// RecipientLimit is the number of recipients accepted in one
	// transaction; more get "452 4.5.3 Error: too many recipients".
	// Default 1000, as Postfix smtpd_recipient_limit.
	RecipientLimit int
	// RecipientOvershootLimit is the number of recipients refused for
	// RecipientLimit that do not count as errors. Default 1000, as Postfix
	// smtpd_recipient_overshoot_limit.
	RecipientOvershootLimit int
	// DisableVRFY answers VRFY "502 5.5.1 VRFY command is disabled", as
	// Postfix disable_vrfy_command = yes.
	DisableVRFY bool
	// DiscardEHLOKeywords are EHLO keywords not announced, in any case
	// ("pipelining", "etrn", "silent-discard" is ignored), as Postfix
	// smtpd_discard_ehlo_keywords. A discarded command is still accepted,
	// as in Postfix.
	DiscardEHLOKeywords []string
	// ForbidUnauthPipelining answers a client that pipelines where it
	// may not "554 5.5.0 Error: SMTP protocol synchronization" and hangs
	// up, as Postfix smtpd_forbid_unauth_pipelining = yes.
	ForbidUnauthPipelining bool
	// NoSMTPUTF8 does not announce SMTPUTF8 and refuses the SMTPUTF8
	// parameter, as Postfix smtputf8_enable = no.
	NoSMTPUTF8 bool
	// NoIPv4 and NoIPv6 refuse an XFORWARD ADDR of that family, as
	// Postfix does for a family inet_protocols leaves out. Zero: both
	// are taken (inet_protocols = all).
	NoIPv4, NoIPv6 bool
	// Stressed, when set, is asked at the start of each session whether
	// the server is under stress (near its connection limit); a stressed
	// session gets StressTimeout, StressHardErrorLimit and
	// StressJunkCommandLimit, as Postfix's smtpd under stress=yes.
	Stressed func() bool
	// StressTimeout, StressHardErrorLimit and StressJunkCommandLimit are
	// the limits of a stressed session. Defaults 10s, 1 and 1, Postfix's
	// ${stress?...} defaults of smtpd_timeout, smtpd_hard_error_limit and
	// smtpd_junk_command_limit.
	StressTimeout          time.Duration
	StressHardErrorLimit   int
	StressJunkCommandLimit int
	// Logger receives one line per session event worth an admin's eyes
	// (improper pipelining, error limits, timeouts, TLS failures). Nil
	// discards.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	if c.Banner == "" {
		c.Banner = c.Hostname + " ESMTP"
	}
	if c.Timeout <= 0 {
		c.Timeout = 300 * time.Second
	}
	if c.MaxLine <= 0 {
		c.MaxLine = 2048
	}
	if c.SoftErrorLimit <= 0 {
		c.SoftErrorLimit = 10
	}
	if c.HardErrorLimit <= 0 {
		c.HardErrorLimit = 20
	}
	if c.RecipientLimit <= 0 {
		c.RecipientLimit = 1000
	}
	if c.RecipientOvershootLimit <= 0 {
		c.RecipientOvershootLimit = 1000
	}
	if c.JunkCommandLimit <= 0 {
		c.JunkCommandLimit = 100
	}
	if c.StressTimeout <= 0 {
		c.StressTimeout = 10 * time.Second
	}
	if c.StressHardErrorLimit <= 0 {
		c.StressHardErrorLimit = 1
	}
	if c.StressJunkCommandLimit <= 0 {
		c.StressJunkCommandLimit = 1
	}
	if c.ErrorSleep == 0 {
		c.ErrorSleep = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// discarded reports whether an EHLO keyword is in DiscardEHLOKeywords.
func (c *Config) discarded(keyword string) bool {
	for _, k := range c.DiscardEHLOKeywords {
		if strings.EqualFold(k, keyword) {
			return true
		}
	}
	return false
}
