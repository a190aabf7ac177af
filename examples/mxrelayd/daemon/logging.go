package daemon

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/mxrelay/mxrelay/relay/maillog"
)

// logFlags are -log-format and -log-output.
type logFlags struct {
	format, output *string
}

func addLogFlags(fs *flag.FlagSet) *logFlags {
	return &logFlags{
		format: fs.String("log-format", "text", "log lines as text (slog's key=value), json (one object a line) or postfix (Postfix 3.7's lines, for pflogsumm and other Postfix log tools)"),
		output: fs.String("log-output", "stderr", "where logs go: stderr, a file (appended, reopened after logrotate renames it), or syslog (the local syslog daemon at /dev/log, facility mail; syslog:PATH for another socket)"),
	}
}

// check refuses a format or an output it does not know, before anything
// starts.
func (f *logFlags) check() error {
	switch *f.format {
	case "text", "json", "postfix":
	default:
		return fmt.Errorf("-log-format %q: want text, json or postfix", *f.format)
	}
	if *f.output == "" {
		return errors.New("-log-output is empty: want stderr, a file or syslog")
	}
	return nil
}

// open returns the logger the flags ask for, and what closes its output.
// hostname ($myhostname) and syslogName ($syslog_name) are written in
// Postfix-format lines.
func (f *logFlags) open(stderr io.Writer, hostname, syslogName string) (*slog.Logger, func() error, error) {
	if err := f.check(); err != nil {
		return nil, nil, err
	}
	var w io.Writer = stderr
	closer := func() error { return nil }
	toSyslog := false
	switch out := *f.output; {
	case out == "stderr":
	case out == "syslog" || strings.HasPrefix(out, "syslog:"):
		sw, err := maillog.DialSyslog(strings.TrimPrefix(strings.TrimPrefix(out, "syslog"), ":"))
		if err != nil {
			return nil, nil, fmt.Errorf("-log-output %s: %w", out, err)
		}
		w, closer, toSyslog = sw, sw.Close, true
	default:
		lf, err := openLogFile(out)
		if err != nil {
			return nil, nil, fmt.Errorf("-log-output: %w", err)
		}
		w, closer = lf, lf.Close
	}
	// Lines go out from one goroutine (maillog.Buffered): sessions do not
	// queue up behind each other's write(2). Closing flushes it first.
	bw := maillog.NewBuffered(w, &maillog.BufferedOptions{Messages: toSyslog})
	w, closeOut := bw, closer
	closer = func() error { return errors.Join(bw.Close(), closeOut()) }
	var h slog.Handler
	switch *f.format {
	case "json":
		h = slog.NewJSONHandler(w, nil)
	case "postfix":
		if hostname == "" {
			hostname, _ = os.Hostname()
		}
		h = maillog.NewHandler(w, &maillog.Options{Hostname: hostname, SyslogName: syslogName, Syslog: toSyslog})
	default:
		h = slog.NewTextHandler(w, nil)
	}
	return slog.New(h), closer, nil
}
