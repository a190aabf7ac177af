package client

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"time"
)

// Dialer opens connections. *net.Dialer implements it; tests and users may
// supply their own (in-memory pipes, SOCKS, source-address binding).
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// DialerFunc adapts a function to Dialer.
type DialerFunc func(ctx context.Context, network, address string) (net.Conn, error)

// DialContext calls f.
func (f DialerFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}

// Timeouts are the per-stage limits of Postfix's smtp_*_timeout
// parameters (smtp_connect_timeout, smtp_helo_timeout, ...). Each applies
// to every single read or write of its stage (a stage that makes progress
// does not time out), like Postfix's. A zero field takes the Postfix
// default; a negative field is rejected by New.
type Timeouts struct {
	// Connect: TCP connect. Default 30s, as Postfix smtp_connect_timeout.
	Connect time.Duration
	// Helo: greeting and EHLO/HELO/LHLO. Default 300s, as Postfix
	// smtp_helo_timeout.
	Helo time.Duration
	// StartTLS: STARTTLS and the TLS handshake. Default 300s, as Postfix
	// smtp_starttls_timeout.
	StartTLS time.Duration
	// XForward: each XFORWARD command and its reply. Default 300s, as
	// Postfix smtp_xforward_timeout.
	XForward time.Duration
	// Rset: RSET before reusing a connection. Default 20s, as Postfix
	// smtp_rset_timeout.
	Rset time.Duration
	// Mail: MAIL FROM. Default 300s, as Postfix smtp_mail_timeout.
	Mail time.Duration
	// Rcpt: each RCPT TO. Default 300s, as Postfix smtp_rcpt_timeout.
	Rcpt time.Duration
	// DataInit: DATA and its 354 reply. Default 120s, as Postfix
	// smtp_data_init_timeout.
	DataInit time.Duration
	// DataXfer: each write of message content. Default 180s, as Postfix
	// smtp_data_xfer_timeout.
	DataXfer time.Duration
	// DataDone: the reply to end of data (each reply, for LMTP). Default
	// 600s, as Postfix smtp_data_done_timeout.
	DataDone time.Duration
	// Quit: sending QUIT, and for LMTP reading its reply. An SMTP QUIT
	// reply is not awaited (Postfix smtp_skip_quit_response = yes); an
	// LMTP one is (lmtp_skip_quit_response = no). Default 300s, as
	// Postfix smtp_quit_timeout.
	Quit time.Duration
}

// defaultTimeouts returns the Postfix 3.7 defaults of the smtp_*_timeout
// parameters.
func defaultTimeouts() Timeouts {
	return Timeouts{
		Connect:  30 * time.Second,
		Helo:     300 * time.Second,
		StartTLS: 300 * time.Second,
		XForward: 300 * time.Second,
		Rset:     20 * time.Second,
		Mail:     300 * time.Second,
		Rcpt:     300 * time.Second,
		DataInit: 120 * time.Second,
		DataXfer: 180 * time.Second,
		DataDone: 600 * time.Second,
		Quit:     300 * time.Second,
	}
}

func (t Timeouts) withDefaults() (Timeouts, bool) {
	ok := true
	fill := func(v *time.Duration, d time.Duration) {
		if *v < 0 {
			ok = false
		}
		if *v == 0 {
			*v = d
		}
	}
	d := defaultTimeouts()
	fill(&t.Connect, d.Connect)
	fill(&t.Helo, d.Helo)
	fill(&t.StartTLS, d.StartTLS)
	fill(&t.XForward, d.XForward)
	fill(&t.Rset, d.Rset)
	fill(&t.Mail, d.Mail)
	fill(&t.Rcpt, d.Rcpt)
	fill(&t.DataInit, d.DataInit)
	fill(&t.DataXfer, d.DataXfer)
	fill(&t.DataDone, d.DataDone)
	fill(&t.Quit, d.Quit)
	return t, ok
}

// Config configures a Client. Only Hostname is required.
type Config struct {
	// Hostname is sent in EHLO/HELO/LHLO (Postfix smtp_helo_name, default
	// $myhostname). Required; "localhost" is refused, because a relay that
	// introduces itself as localhost is rejected or mistrusted by peers.
	Hostname string
	// MyHostname is this host's name (Postfix myhostname). A peer that
	// answers EHLO with it, on a Target with LoopDetect set, is this host:
	// the mail would loop, and the session fails with KindLoop (Postfix
	// smtp_proto.c). Empty means Hostname.
	MyHostname string

	// Timeouts per stage; zero fields take the Postfix defaults
	// (smtp_*_timeout).
	Timeouts Timeouts

	// Dialer opens connections. Nil means a *net.Dialer.
	Dialer Dialer

	// Chunking enables BDAT (RFC 3030) when the peer offers CHUNKING.
	// Default off, like Postfix, which never sends BDAT.
	Chunking bool
	// ChunkSize is the BDAT chunk size. Default 64 KiB (Postfix has no
	// such parameter: it never sends BDAT).
	ChunkSize int

	// Bounce5xxGreeting makes a 5xx banner a permanent failure of the
	// recipients. Default false: like Postfix smtp_skip_5xx_greeting = yes,
	// a 5xx banner is treated as temporary and the next address is tried.
	Bounce5xxGreeting bool

	// MaxIdle caps the idle connections kept per (nexthop, address) for
	// reuse. Zero means no cap of its own: as in Postfix's scache(8),
	// which has no per-destination count, every connection a burst of
	// deliveries opened stays for the next burst until IdleTimeout,
	// within MaxIdleTotal (a cap of 4 made 70% of the deliveries of
	// bursts of 20 open a new connection: BenchmarkDeliverConcurrentDefault).
	// Negative disables reuse (Postfix smtp_connection_cache_on_demand
	// = no).
	MaxIdle int
	// MaxIdleTotal caps idle connections over all destinations. Zero
	// means 100.
	MaxIdleTotal int
	// IdleTimeout closes a connection that stayed idle this long. Default
	// 2s, as Postfix smtp_connection_cache_time_limit.
	IdleTimeout time.Duration
	// MaxReuseTime stops reusing a connection this long after it was
	// opened. Default 300s, as Postfix smtp_connection_reuse_time_limit.
	MaxReuseTime time.Duration

	// XForward sends the original client's attributes (Message.XForward)
	// with XFORWARD to a peer that announces XFORWARD in its EHLO reply,
	// as Postfix smtp_send_xforward_command = yes (lmtp_send_xforward_command
	// for LMTP): a content filter then sees the real client, not this
	// host. Default false, as Postfix.
	XForward bool

	// Logger receives debug records of each session; nil discards.
	Logger *slog.Logger
}

// TLSLevel is a per-destination STARTTLS policy, after Postfix
// smtp_tls_security_level.
type TLSLevel int

// TLS levels.
const (
	// TLSOpportunistic ("may") uses STARTTLS when offered, without
	// verifying the certificate, and continues in clear text when it is
	// not offered. A failed handshake is reported with RetryWithoutTLS so
	// the caller can retry the address in clear, as Postfix does. This is
	// the zero value (Postfix's built-in default is "none"; Debian and
	// most deployments set "may").
	TLSOpportunistic TLSLevel = iota
	// TLSNone ("none") never uses STARTTLS.
	TLSNone
	// TLSMandatory ("encrypt") refuses to send without TLS (4.7.4 when
	// STARTTLS is not offered); the certificate is not verified.
	TLSMandatory
	// TLSVerify ("verify"/"secure") requires TLS and a certificate valid
	// for the nexthop name (Target.TLSName, else Target.Host) against
	// TLSConfig.RootCAs (nil: the system roots).
	TLSVerify
)

var tlsLevelNames = [...]string{"may", "none", "encrypt", "verify"}

// String returns the Postfix name of the level.
func (l TLSLevel) String() string {
	if l >= 0 && int(l) < len(tlsLevelNames) {
		return tlsLevelNames[l]
	}
	return "invalid"
}

// Target is one address of a nexthop: where a single session goes.
type Target struct {
	// Host is the next-hop host name (MX host, or the [host] of a
	// nexthop); used in results, error texts and certificate checks.
	Host string
	// Network is "tcp" (default) or "unix" (LMTP unix:/path).
	Network string
	// Address is the dial address: "192.0.2.1:25", "[2001:db8::1]:25",
	// or a socket path.
	Address string
	// LMTP selects RFC 2033 LMTP (LHLO, one reply per recipient).
	LMTP bool
	// TLS is the STARTTLS policy for this destination.
	TLS TLSLevel
	// TLSConfig is cloned for the handshake (certificates, roots,
	// versions). Nil means a default configuration.
	TLSConfig *tls.Config
	// TLSName overrides Host as the name verified under TLSVerify.
	TLSName string
	// TLSMatch, when not empty, replaces TLSName under TLSVerify: the
	// certificate chain is verified against TLSConfig.RootCAs and the
	// certificate must match one entry: a host name (as
	// x509.Certificate.VerifyHostname), or ".example.com" for any name
	// under example.com (Postfix match=dot-nexthop).
	TLSMatch []string

	// LoopDetect makes a peer that answers EHLO with Config.MyHostname a
	// mail loop (KindLoop): 5.4.6, the recipients fail, when BestMX is
	// set; 4.4.6, try the next address, when not. Postfix detects loops
	// this way on SMTP port 25 only (smtp_connect.c); package transport
	// sets it so. A peer that needs HELO is not checked, as in Postfix.
	LoopDetect bool
	// BestMX marks the address as one of the nexthop's most preferred:
	// an MX host of the lowest preference found, or a host looked up
	// without MX records (Postfix SMTP_FEATURE_BEST_MX).
	BestMX bool
	// Nexthop names the destination in the loop error, "mail for NEXTHOP
	// loops back to myself": the domain or the [host] as routed
	// (Postfix's request nexthop). Empty means Host.
	Nexthop string
}

func (t *Target) network() string {
	if t.Network == "" {
		return "tcp"
	}
	return t.Network
}

// Recipient is one envelope recipient.
type Recipient struct {
	// Address is the address without angle brackets.
	Address string
	// Notify is the DSN NOTIFY value (RFC 3461): "NEVER", or a comma list
	// of SUCCESS, FAILURE, DELAY. Empty: no NOTIFY parameter. Sent only
	// when the peer offers DSN.
	Notify string
	// ORcpt is the DSN original recipient address, decoded; empty: none.
	// Sent (xtext-encoded, type ORcptType) only when the peer offers DSN.
	ORcpt string
	// ORcptType is the address type of ORcpt; empty means "rfc822", or
	// "utf-8" when ORcpt is not ASCII (RFC 6533).
	ORcptType string
}

// Message is one message and its envelope.
type Message struct {
	// From is the envelope sender without brackets; "" is the null sender.
	From string
	// Recipients are tried in order; results come back in the same order.
	Recipients []Recipient
	// Body is the message (header and body). It is read from offset 0 to
	// Size, possibly several times (once to measure and once per session),
	// so the same Message can be passed to several Deliver calls. Line
	// endings may be CRLF, LF or CR: all are sent as CRLF.
	Body io.ReaderAt
	// Size is the length of Body in bytes.
	Size int64
	// SMTPUTF8 reports that the sender asked for SMTPUTF8 (RFC 6531).
	SMTPUTF8 bool
	// EightBit reports that the sender declared BODY=8BITMIME (RFC 6152).
	// BODY=8BITMIME is also sent when the content has 8-bit bytes.
	EightBit bool
	// Ret is the DSN RET value, "FULL" or "HDRS"; empty: none.
	Ret string
	// EnvID is the DSN envelope identifier, decoded; empty: none.
	EnvID string
	// Probe makes the transaction an address verification probe, as
	// Postfix's smtp does for verify(8): it ends after the RCPT replies,
	// no DATA is sent (the connection is reset before any reuse), and
	// each recipient the peer accepted is Delivered with its RCPT reply.
	// Body and Size may be empty.
	Probe bool
	// XForward are the attributes of the client that sent the message,
	// sent with XFORWARD when Config.XForward is set and the peer
	// announces XFORWARD. Nil: no XFORWARD.
	XForward *XForward
}

// XForward are the attributes of the client a message came from, as
// Postfix's XFORWARD_README names them. An empty field is not sent, as
// Postfix 3.7 leaves out an attribute it does not have. Values are sent
// xtext-encoded.
type XForward struct {
	// Name is the client's verified host name (NAME); empty when it
	// had none ("unknown").
	Name string
	// Addr is the client's IP address (ADDR), without brackets.
	Addr string
	// Port is the client's TCP port (PORT).
	Port string
	// Proto is the protocol the client spoke (PROTO): "ESMTP" or "SMTP".
	Proto string
	// Helo is the name the client gave in HELO or EHLO (HELO).
	Helo string
	// Ident is the message's queue ID where it was received (IDENT).
	Ident string
	// Source is "LOCAL" or "REMOTE" (SOURCE, Postfix's XFORWARD
	// DOMAIN feature): whether the client is one whose headers Postfix
	// rewrites as local (local_header_rewrite_clients).
	Source string
}

// Status is the outcome for one recipient.
type Status int

// Recipient outcomes.
const (
	// Pending: not attempted (only seen when the message failed before
	// any session, e.g. an invalid sender).
	Pending Status = iota
	// Delivered: the peer accepted responsibility (2xx after the data).
	Delivered
	// Deferred: temporary failure; as in Postfix's smtp_trouble.c, the
	// recipient is offered to the next address, and deferred after the
	// last one.
	Deferred
	// Failed: permanent failure; the recipient is bounced.
	Failed
)

var statusNames = [...]string{"pending", "delivered", "deferred", "failed"}

// String names the status ("delivered", "deferred").
func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "invalid"
}

// RecipientResult is the outcome for one recipient of one session.
type RecipientResult struct {
	// Recipient is Recipient.Address of the message.
	Recipient string
	// Status is the outcome.
	Status Status
	// Reply is the peer's final reply for this recipient: the end-of-data
	// reply when delivered, the refusal otherwise (zero for local errors).
	Reply Reply
	// Err explains a Deferred or Failed status.
	Err *Error
}

// Result reports one session.
type Result struct {
	// Host and Addr identify the peer (Target.Host, Target.Address).
	Host, Addr string
	// Recipients has one entry per Message recipient, in order.
	Recipients []RecipientResult
	// Established reports that the session got past EHLO and STARTTLS:
	// it counts against Postfix smtp_mx_session_limit.
	Established bool
	// TLS reports that the message went over TLS.
	TLS bool
	// Reused reports that the session reused a cached connection.
	Reused bool
	// Err is the session-level failure, if any: the same *Error is set on
	// every recipient it affected.
	Err *Error
}

// Pending returns the indexes of recipients that should be offered to the
// next address: Deferred with an error for which NextAddress is true.
func (r *Result) Pending() []int {
	var out []int
	for i, rr := range r.Recipients {
		if rr.Status == Deferred && rr.Err != nil && rr.Err.NextAddress() {
			out = append(out, i)
		}
	}
	return out
}
