package smtpdproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"syscall"
	"time"
)

// Config describes the before-queue filter.
type Config struct {
	// Service is where the filter listens, as smtpd_proxy_filter:
	// "host:port", "[host]:port", "inet:host:port" or "unix:pathname".
	// Empty: no filter.
	Service string
	// Timeout bounds connecting and each command and reply
	// (smtpd_proxy_timeout). Zero: 100s, Postfix's default.
	Timeout time.Duration
	// EHLO is the name in the EHLO command (smtpd_proxy_ehlo; Postfix's
	// default is $myhostname, the caller's to supply). Empty: "localhost".
	EHLO string
	// SpeedAdjust receives the whole message before contacting the
	// filter (smtpd_proxy_options = speed_adjust).
	SpeedAdjust bool
	// Dial connects; nil: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives smtpd_proxy.c's warnings. Nil discards.
	Logger *slog.Logger
}

// DefaultTimeout is smtpd_proxy_timeout's default.
const DefaultTimeout = 100 * time.Second

// lineLimit caps a reply line and a whole reply, as Postfix's
// line_length_limit (2048) in smtpd_proxy_cmd.
const lineLimit = 2048

// endpoint splits Service into a network and an address for net.Dial,
// as smtpd_proxy_connect: "unix:" selects a UNIX-domain socket, "inet:"
// or nothing TCP; a TCP endpoint without host is localhost.
func endpoint(service string) (network, addr string, err error) {
	if len(service) >= 5 && strings.EqualFold(service[:5], "unix:") {
		if service[5:] == "" {
			return "", "", fmt.Errorf("smtpdproxy: %q: empty pathname", service)
		}
		return "unix", service[5:], nil
	}
	if len(service) >= 5 && strings.EqualFold(service[:5], "inet:") {
		service = service[5:]
	}
	host, port := "localhost", service
	if i := strings.LastIndexByte(service, ':'); i >= 0 && !strings.HasSuffix(service, "]") {
		host, port = service[:i], service[i+1:]
		if host == "" {
			host = "localhost"
		}
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if port == "" {
		return "", "", fmt.Errorf("smtpdproxy: %q: no port", service)
	}
	return "tcp", net.JoinHostPort(host, port), nil
}

// Validate reports a Service that cannot be connected to.
func (c *Config) Validate() error {
	_, _, err := endpoint(c.Service)
	return err
}

func (c *Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Config) log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Conn is one mail transaction with the filter: opened at the first
// accepted recipient (Open), then RCPT, DATA, the message and the end of
// data, closed (QUIT) at the end of the transaction.
type Conn struct {
	cfg    *Config
	log    *slog.Logger
	nc     net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	broken bool // an I/O error or timeout: every later command fails
	stop   func() bool
}

// Open connects to the filter and sends EHLO, XFORWARD (when the filter
// announces it) and mail, the client's MAIL command. On failure the reply
// for the client is returned, the connection closed: Failure when the
// filter is down or refuses the connection, EHLO or XFORWARD (Postfix
// does not pass those replies on, the client expecting a reply to RCPT),
// the filter's own reply when it refuses MAIL with a 4xx or 5xx.
func Open(ctx context.Context, cfg *Config, client Client, mail string) (*Conn, *Reply) {
	network, addr, err := endpoint(cfg.Service)
	log := cfg.log()
	if err != nil {
		log.Warn("connect to proxy filter "+cfg.Service+": "+err.Error(), "proxy", cfg.Service)
		f := Failure()
		return nil, &f
	}
	dial := cfg.Dial
	if dial == nil {
		d := &net.Dialer{}
		dial = d.DialContext
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	nc, err := dial(dctx, network, addr)
	cancel()
	if err != nil {
		log.Warn("connect to proxy filter "+cfg.Service+": "+errText(err), "proxy", cfg.Service)
		f := Failure()
		return nil, &f
	}
	c := &Conn{cfg: cfg, log: log, nc: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}
	// The caller's end (a session cut, a shutdown) closes the connection,
	// whichever goroutine is using it.
	c.stop = context.AfterFunc(ctx, func() { nc.Close() })
	fail := func() (*Conn, *Reply) {
		c.Close()
		f := Failure()
		return nil, &f
	}
	if _, ok := c.cmd("", '2'); !ok {
		return fail()
	}
	ehlo, ok := c.cmd("EHLO "+cfg.ehlo(), '2')
	if !ok {
		return fail()
	}
	if feats := xforwardFeatures(ehlo.Lines); feats != 0 {
		for _, line := range client.xforward(feats) {
			if _, ok := c.cmd(line, '2'); !ok {
				return fail()
			}
		}
	}
	if rep, ok := c.cmd(mail, '2'); !ok {
		c.Close()
		return nil, &rep
	}
	return c, nil
}

func (c *Config) ehlo() string {
	if c.EHLO != "" {
		return c.EHLO
	}
	return "localhost"
}

// Rcpt passes on the client's RCPT command; a refusal (its reply) is
// returned. The connection stays open after a refusal.
func (c *Conn) Rcpt(cmd string) *Reply {
	if rep, ok := c.cmd(cmd, '2'); !ok {
		return &rep
	}
	return nil
}

// Data sends DATA; the filter must answer 3xx, its refusal is returned.
func (c *Conn) Data() *Reply {
	if rep, ok := c.cmd("DATA", '3'); !ok {
		return &rep
	}
	return nil
}

// Message returns the writer of the message text (LF or CRLF line ends;
// it is dot-stuffed and sent with CRLF). Write errors are kept for End.
func (c *Conn) Message() io.Writer {
	return &dataWriter{c: c, dw: textproto.NewWriter(c.w).DotWriter()}
}

// End sends the end of data and returns the filter's reply, whatever its
// code, as the reply to the client's end of data (smtpd.c passes it on as
// it is; a reply other than 2xx refuses the message). A broken
// connection or a timeout gives Failure. ok reports a 2xx reply.
func (c *Conn) End(msg io.Writer) (rep Reply, ok bool) {
	dw := msg.(*dataWriter)
	if !c.broken {
		c.deadline()
		if err := dw.dw.Close(); err != nil {
			c.ioError(err)
		}
	}
	rep, _ = c.cmd("", 0)
	return rep, !c.broken && rep.Code/100 == 2
}

// Close ends the transaction: QUIT (no reply awaited) and close, as
// smtpd_proxy_close.
func (c *Conn) Close() {
	if c == nil || c.nc == nil {
		return
	}
	if !c.broken {
		c.nc.SetWriteDeadline(time.Now().Add(c.cfg.timeout()))
		c.w.WriteString("QUIT\r\n")
		c.w.Flush()
	}
	c.stop()
	c.nc.Close()
	c.nc = nil
	c.broken = true
}

// dataWriter sends message text; after an error it discards.
type dataWriter struct {
	c  *Conn
	dw io.WriteCloser
}

func (d *dataWriter) Write(p []byte) (int, error) {
	if d.c.broken {
		return len(p), nil
	}
	d.c.deadline()
	if _, err := d.dw.Write(p); err != nil {
		d.c.ioError(err)
	}
	return len(p), nil
}

func (c *Conn) deadline() { c.nc.SetDeadline(time.Now().Add(c.cfg.timeout())) }

// ioError marks the connection broken and logs why, as
// smtpd_proxy_rdwr_error.
func (c *Conn) ioError(err error) {
	if c.broken {
		return
	}
	c.broken = true
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.log.Warn("timeout talking to proxy "+c.cfg.Service, "proxy", c.cfg.Service)
		return
	}
	c.log.Warn("lost connection with proxy "+c.cfg.Service, "proxy", c.cfg.Service, "err", err)
}

// cmd sends a command (none when empty: the greeting, the end of data)
// and reads the reply, as smtpd_proxy_cmd: want is the expected first
// digit ('2', '3'; 0: any). An unexpected 4xx or 5xx reply is returned
// as it is; an unexpected 2xx or 3xx one, or an I/O error, gives
// Failure. ok reports the expected reply.
func (c *Conn) cmd(cmd string, want byte) (Reply, bool) {
	if c.broken {
		return Failure(), false
	}
	c.deadline()
	if cmd != "" {
		c.w.WriteString(cmd)
		c.w.WriteString("\r\n")
	}
	if err := c.w.Flush(); err != nil {
		c.ioError(err)
		return Failure(), false
	}
	rep, err := readReply(c.r)
	if err != nil {
		c.ioError(err)
		return Failure(), false
	}
	first := rep.Lines[0][0]
	if want == 0 || first == want {
		return rep, true
	}
	what := cmd
	if what == "" {
		what = "connection request"
	}
	c.log.Warn(fmt.Sprintf("proxy %s rejected \"%s\": \"%s\"", c.cfg.Service, what, strings.Join(rep.Lines, "\r\n")), "proxy", c.cfg.Service)
	if first == '2' || first == '3' {
		return Failure(), false
	}
	return rep, false
}

// errText words a connection error as Postfix's %m, strerror(3):
// "Connection refused".
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		if s != "" && s[0] >= 'a' && s[0] <= 'z' {
			s = string(s[0]-'a'+'A') + s[1:]
		}
		return s
	}
	return err.Error()
}
