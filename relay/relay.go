package relay

import (
	"context"
	"errors"
	"fmt"
	"github.com/mxrelay/mxrelay/lookup"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/policy/msgauth"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/cleanup"
	"github.com/mxrelay/mxrelay/relay/smtpdproxy"
	"github.com/mxrelay/mxrelay/transport"
	"github.com/mxrelay/mxrelay/transport/client"
)

// Checker decides SMTP commands. *policy.Policy implements it.
type Checker interface {
	Check(ctx context.Context, req *policy.Request) policy.Decision
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context, req *policy.Request) policy.Decision

// Check calls f(ctx, req).
func (f CheckerFunc) Check(ctx context.Context, req *policy.Request) policy.Decision {
	return f(ctx, req)
}

// Router routes a recipient. *transport.Router implements it.
type Router interface {
	Route(ctx context.Context, rcpt string) (transport.Route, error)
}

// RouterFunc adapts a function to Router.
type RouterFunc func(ctx context.Context, rcpt string) (transport.Route, error)

// Route calls f(ctx, rcpt).
func (f RouterFunc) Route(ctx context.Context, rcpt string) (transport.Route, error) {
	return f(ctx, rcpt)
}

// Deliverer takes a message to the recipients of one route.
// *transport.Agent implements it. Deliver is called concurrently: by the
// delivery workers, and once per destination of a message with
// recipients at several.
type Deliverer interface {
	Deliver(ctx context.Context, r transport.Route, m *client.Message) *transport.Delivery
}

// DelivererFunc adapts a function to Deliverer.
type DelivererFunc func(ctx context.Context, r transport.Route, m *client.Message) *transport.Delivery

// Deliver calls f(ctx, r, m).
func (f DelivererFunc) Deliver(ctx context.Context, r transport.Route, m *client.Message) *transport.Delivery {
	return f(ctx, r, m)
}

// DefaultWorkers is the number of delivery workers when none is set, in
// Config.Workers and LoadOptions.Workers alike: Postfix's
// default_process_limit, the number of smtp(8) processes Postfix would
// run at most. Load takes default_process_limit from the main.cf, so a
// main.cf that sets it sets the workers too.
const DefaultWorkers = 100

// Config composes a relay. Policy and Queue are required; Router and
// Agent are required to deliver (Run). Zero values give Postfix 3.7's
// defaults, cited per field.
type Config struct {
	// Hostname is $myhostname: in replies, Received: headers, DSNs.
	// Default os.Hostname().
	Hostname string
	// Origin is $myorigin, the domain of MAILER-DAEMON in DSNs. Default
	// Hostname.
	Origin string
	// MailName is $mail_name, in Received: headers. Default "Postfix".
	MailName string

	// Policy decides each SMTP command (client, HELO, MAIL, RCPT, DATA).
	Policy Checker
	// Queue stores accepted mail and schedules its delivery.
	Queue *queue.Scheduler
	// Router resolves each recipient to a transport and nexthop.
	Router Router
	// Agent delivers along a route.
	Agent Deliverer
	// Cleanup rewrites the envelope of accepted mail before it is
	// queued (virtual_alias_maps), as Postfix's cleanup(8). Nil: no
	// rewriting.
	Cleanup *cleanup.Cleanup
	// Filter is the after-queue content filter (content_filter). The
	// zero value: none.
	Filter FilterConfig
	// DefaultRecipientLimit caps the recipients of one delivery (one
	// transaction with one next hop): a message's recipients for one
	// destination beyond it go in further deliveries, one after another,
	// as Postfix's queue manager splits them
	// (default_destination_recipient_limit, 50 in Postfix). Zero or
	// negative: no limit.
	DefaultRecipientLimit int
	// RecipientLimits are DefaultRecipientLimit per transport, by name
	// (TRANSPORT_destination_recipient_limit: a content filter's
	// "smtp-amavis_destination_recipient_limit = 1" gives it one
	// recipient per delivery). The map is read, never written.
	RecipientLimits map[string]int

	// MessageSizeLimit is the largest message accepted, in bytes.
	// Default 10240000, as Postfix message_size_limit; negative: no
	// limit.
	MessageSizeLimit int64
	// RecipientLimit caps recipients per transaction. Default 1000, as
	// Postfix smtpd_recipient_limit.
	RecipientLimit int
	// HopCountLimit caps the Received: headers of a message. Default 50,
	// as Postfix hopcount_limit.
	HopCountLimit int
	// SoftErrorLimit and HardErrorLimit count error replies per session
	// (smtpd(8), TARPIT CONTROLS): past the soft limit each error reply
	// waits ErrorSleep; at the hard limit the next command is answered
	// 421 and the connection closed. Defaults 10 and 20, as Postfix
	// smtpd_soft_error_limit and smtpd_hard_error_limit.
	SoftErrorLimit, HardErrorLimit int
	// JunkCommandLimit is how many NOOP, RSET and VRFY commands a session
	// may send before each further one counts as an error, so that a
	// client cannot hold a connection with them forever. Default 100,
	// as Postfix smtpd_junk_command_limit. Counted by Server, which sees
	// those commands; a backend mounted in another server does not.
	JunkCommandLimit int
	// ErrorSleep is the delay of error replies past the soft limit.
	// Default 1s, as Postfix smtpd_error_sleep_time; negative: none.
	ErrorSleep time.Duration
	// FastFlushDomains are the domains ETRN may flush, as Postfix
	// fast_flush_domains (default $relay_domains: a backup MX's primary
	// asks it to deliver now what it holds). Nil: ETRN is answered "459
	// 4.3.0 <DOMAIN>: service unavailable" for every domain.
	FastFlushDomains *lookup.List
	// XForwardHosts are the clients that may send XFORWARD, as Postfix
	// smtpd_authorized_xforward_hosts (empty by default): a content
	// filter that reinjects mail and names the client it came from. Its
	// attributes go to the log (orig_client=, orig_queue_id=), the queue
	// (and so to a later filter's XFORWARD), and its SOURCE decides the
	// header rewriting context; access decisions and the Received: header
	// keep the real client, as in Postfix. Nil: no client may.
	XForwardHosts *lookup.List
	// BareLineEndings says what DATA does with bare CR and LF. Default
	// BareReject (stricter than Postfix 3.7, see the package doc).
	BareLineEndings BareLineEnding
	// SoftBounce turns every bounce into a deferral (Postfix soft_bounce,
	// default no): nothing is returned, mail stays queued.
	SoftBounce bool

	// MaximalQueueLifetime and DelayWarningTime are quoted in delay DSNs
	// ("Will-Retry-Until", "more than N hour(s)"). Set them as the
	// queue's Lifetimes. Defaults 5d and 0h, as Postfix.
	MaximalQueueLifetime, DelayWarningTime time.Duration

	// Workers is the number of delivery workers Run starts. Default
	// DefaultWorkers (100), as Load's default: main.cf's
	// default_process_limit.
	Workers int

	// Rates are the per-client rate limits, as Postfix's anvil keeps
	// them (smtpd_client_*_rate_limit). The zero value limits nothing.
	Rates RateLimits

	// Auth checks SPF, DKIM and DMARC of each message at the end of
	// DATA (policy/msgauth): it prepends Authentication-Results after
	// removing any that claims its authserv-id, and refuses or holds
	// what the sender domain's DMARC policy asks. Nil: no checks, and
	// the message passes unchanged (Postfix without a milter).
	Auth *msgauth.Checker

	// Milters are the milters each SMTP session talks to, as Postfix's
	// smtpd_milters (see Milters and package relay/milter): they see
	// each command after its restrictions and the message after the
	// cleanup stage, and may refuse, hold, discard or change it. Nil:
	// none.
	Milters *Milters

	// ProxyFilter is the before-queue content filter of the listener
	// (smtpd_proxy_filter; package relay/smtpdproxy): each transaction
	// is passed on to it as the client sends it, and the filter's
	// replies are the client's; nothing is queued here (the filter
	// passes the message to another listener, which queues it). Header
	// and body checks, the cleanup stage, message authentication and
	// the milters' message events do not run. Nil: none.
	ProxyFilter *smtpdproxy.Config

	// Logger receives one line per SMTP rejection and one per delivery
	// attempt per recipient. Nil discards.
	Logger *slog.Logger
	// Observer receives events for metrics. Nil: none.
	Observer Observer
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// MX is a backup or primary MX: a go-smtp Backend that accepts mail
// under a policy into a queue, and the delivery loop (Run) that relays it.
type MX struct {
	c   Config
	log *slog.Logger
	obs Observer

	sessions *sessionSet
	anvil    *anvil // Config.Rates' counters

	flushMu   sync.Mutex
	lastFlush map[string]time.Time // ETRN flushes by domain

	bodies sync.Pool // *[]byte: the buffers openBody holds bodies in
}

// flushInterval is the least time between two ETRN flushes of a domain.
const flushInterval = 5 * time.Second

// flushDue records an ETRN flush of domain and reports whether it should
// run: at most one per flushInterval.
func (r *MX) flushDue(domain string) bool {
	now := r.c.Now()
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	if r.lastFlush == nil {
		r.lastFlush = make(map[string]time.Time)
	}
	if last, ok := r.lastFlush[domain]; ok && now.Sub(last) < flushInterval {
		return false
	}
	for d, t := range r.lastFlush {
		if now.Sub(t) >= flushInterval {
			delete(r.lastFlush, d)
		}
	}
	r.lastFlush[domain] = now
	return true
}

// New checks the configuration and returns an MX.
func New(c Config) (*MX, error) {
	if c.Policy == nil {
		return nil, errors.New("relay: Config.Policy is required")
	}
	if c.Queue == nil {
		return nil, errors.New("relay: Config.Queue is required")
	}
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return nil, fmt.Errorf("relay: Config.Hostname is empty and the host name is unknown: %v", err)
		}
		c.Hostname = h
	}
	if c.Origin == "" {
		c.Origin = c.Hostname
	}
	if c.MailName == "" {
		c.MailName = "Postfix"
	}
	if c.MessageSizeLimit == 0 {
		c.MessageSizeLimit = 10240000
	}
	if c.RecipientLimit <= 0 {
		c.RecipientLimit = 1000
	}
	if c.HopCountLimit <= 0 {
		c.HopCountLimit = 50
	}
	if c.SoftErrorLimit <= 0 {
		c.SoftErrorLimit = 10
	}
	if c.HardErrorLimit <= 0 {
		c.HardErrorLimit = 20
	}
	if c.JunkCommandLimit <= 0 {
		c.JunkCommandLimit = 100
	}
	if c.ErrorSleep == 0 {
		c.ErrorSleep = time.Second
	}
	if c.MaximalQueueLifetime == 0 {
		c.MaximalQueueLifetime = 5 * 24 * time.Hour
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	obs := c.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	return &MX{c: c, log: log, obs: obs, sessions: newSessionSet(), anvil: newAnvil(c.Rates, c.Now)}, nil
}

// Hostname returns $myhostname as the relay uses it.
func (r *MX) Hostname() string { return r.c.Hostname }

// MessageSizeLimit returns the message size limit in bytes (0: none), for
// the SIZE keyword of the server's EHLO reply (smtp.Server.MaxMessageBytes).
func (r *MX) MessageSizeLimit() int64 {
	if r.c.MessageSizeLimit < 0 {
		return 0
	}
	return r.c.MessageSizeLimit
}

// CloseSessions ends the MX's SMTP sessions gracefully, for an MX mounted
// in another go-smtp server (Server.Shutdown does this for its own):
// new sessions are refused with "421 4.3.2 Service shutting down" and a
// hang-up, idle sessions get the same reply and are closed, and a
// session receiving a message finishes it (stored and answered) and is
// closed right after the reply. It returns nil once every session has
// ended. When ctx ends first, the sessions still open are cut (what they
// were receiving was not answered 250, so nothing accepted is lost) and
// ctx's error is returned.
//
// CloseSessions stops neither Run (cancel its context) nor the
// smtp.Server: close that afterwards with its Close, which also drops
// the connections that have not said HELO or EHLO yet (they are not
// sessions; they are refused if they do). After CloseSessions the MX
// accepts no new session.
func (r *MX) CloseSessions(ctx context.Context) error {
	select {
	case <-r.sessions.close():
		return nil
	case <-ctx.Done():
		r.sessions.cut()
		return ctx.Err()
	}
}

// Queue returns the queue scheduler.
func (r *MX) Queue() *queue.Scheduler { return r.c.Queue }
