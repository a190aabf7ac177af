package maillog

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Handler. The zero value writes the lines a syslog
// daemon writes to /var/log/mail.log for Postfix, for a host named
// "localhost".
type Options struct {
	// Hostname is $myhostname; its first label is written, as Postfix's
	// maillog_file and syslog do. Default "localhost".
	Hostname string
	// SyslogName is the first part of the program name, as Postfix's
	// syslog_name. Default "postfix".
	SyslogName string
	// PID is the process ID in brackets. Default os.Getpid().
	PID int
	// Syslog writes each line as a message for the local syslog daemon
	// (RFC 3164 without the hostname, facility mail, the level as
	// severity, no newline), for a Writer from DialSyslog. Otherwise
	// lines are written whole, as a syslog daemon writes Postfix's to
	// its file ("Dec  7 01:02:03 host postfix/smtpd[7]: ...\n", the
	// traditional format).
	Syslog bool
	// MaillogFile writes the day of the month as Postfix 3.7's own
	// maillog_file does, with a zero ("Dec 07"), where syslog daemons
	// pad it with a space ("Dec  7"). pflogsumm reads both.
	MaillogFile bool
	// Level is the lowest level written. Default slog.LevelInfo.
	Level slog.Leveler
	// Location is the time zone of the time stamps. Default time.Local,
	// as syslog and Postfix write them.
	Location *time.Location
}

// Handler is a slog.Handler that writes the relay's events (see Connect
// and the other constants) as the lines Postfix 3.7 writes for the same
// event, so that pflogsumm and other tools made for Postfix's logs read
// them. Each record is one Write of one whole line (or two, when a
// rejection carries its internal cause, logged first as a warning, as
// smtpd logs a table failure). Records that are not relay events are
// written as "message key=value ...", with "warning: " before them at
// slog.LevelWarn and "error: " at slog.LevelError.
//
// The program name follows the event: smtpd for the SMTP server's events
// (connections, refusals, actions, client=), cleanup for MessageID, qmgr
// for Active, Expired and Removed, bounce for Notification, and for
// Delivery the transport's: "relay/smtp" for the
// relay transport (Debian's master.cf logs it under postfix/relay),
// "smtp" for smtp and other transports, "error" for recipients deferred
// or bounced without an attempt (Postfix's error and retry services) and
// "discard" for discard.
type Handler struct {
	out   *output
	level slog.Leveler
	attrs []slog.Attr // from WithAttrs
}

// output is what the handlers derived by WithAttrs share.
type output struct {
	mu      sync.Mutex
	w       io.Writer
	host    string
	name    string
	pid     string
	syslog  bool
	stamp   string // time layout of the file lines
	loc     *time.Location
	bufPool sync.Pool
}

// NewHandler returns a Handler writing to w.
func NewHandler(w io.Writer, o *Options) *Handler {
	if o == nil {
		o = &Options{}
	}
	host := o.Hostname
	if host == "" {
		host = "localhost"
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		host = host[:i]
	}
	name := o.SyslogName
	if name == "" {
		name = "postfix"
	}
	pid := o.PID
	if pid == 0 {
		pid = os.Getpid()
	}
	loc := o.Location
	if loc == nil {
		loc = time.Local
	}
	level := o.Level
	if level == nil {
		level = slog.LevelInfo
	}
	stamp := time.Stamp // "Jan _2 15:04:05", as syslog daemons write
	if o.MaillogFile {
		stamp = "Jan 02 15:04:05" // msg_logger.c
	}
	out := &output{w: w, host: host, name: name, pid: strconv.Itoa(pid), syslog: o.Syslog, stamp: stamp, loc: loc}
	out.bufPool.New = func() any { b := make([]byte, 0, 512); return &b }
	return &Handler{out: out, level: level}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &h2
}

// WithGroup implements slog.Handler. Groups do not nest keys: the
// relay's events are flat, and Postfix's lines have no groups.
func (h *Handler) WithGroup(string) slog.Handler { return h }

// Handle implements slog.Handler.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var ev event
	ev.msg, ev.level = r.Message, r.Level
	for _, a := range h.attrs {
		ev.add(a)
	}
	r.Attrs(func(a slog.Attr) bool {
		ev.add(a)
		return true
	})
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	bp := h.out.bufPool.Get().(*[]byte)
	w := lines{out: h.out, t: t.In(h.out.loc), buf: *bp}
	render(&ev, &w)
	*bp = w.buf
	h.out.bufPool.Put(bp)
	return w.err
}

// prefix appends the time stamp, host and program, as a syslog daemon
// writes them to its file ("Dec  7 01:02:03 mx2 postfix/smtpd[7]: ") or
// Postfix's maillog_file ("Dec 07 ...", msg_logger.c); or, for the
// syslog daemon, "<22>Dec  7 01:02:03 postfix/smtpd[7]: " (it adds the
// host).
func (o *output) prefix(b []byte, t time.Time, program string, level slog.Level) []byte {
	if o.syslog {
		b = append(b, '<')
		b = strconv.AppendInt(b, int64(facilityMail|severity(level)), 10)
		b = append(b, '>')
		b = t.AppendFormat(b, time.Stamp)
	} else {
		b = t.AppendFormat(b, o.stamp)
		b = append(b, ' ')
		b = append(b, o.host...)
	}
	b = append(b, ' ')
	b = append(b, o.name...)
	b = append(b, '/')
	b = append(b, program...)
	b = append(b, '[')
	b = append(b, o.pid...)
	b = append(b, "]: "...)
	return b
}

// facilityMail is syslog's mail facility (RFC 5424 section 6.2.1) times 8.
const facilityMail = 2 << 3

// severity maps a slog level to a syslog severity.
func severity(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	}
	return 7
}
