package milter

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mxrelay/mxrelay/lookup"
)

// Action is what happens to the SMTP session when a milter is
// unavailable or breaks the protocol: Postfix's milter_default_action.
type Action int

const (
	// Tempfail refuses the command at hand with "451 4.7.1 Service
	// unavailable - try again later" and every later one (Postfix's
	// default).
	Tempfail Action = iota
	// Accept goes on as if the milter had not been configured.
	Accept
	// Reject refuses with "550 5.5.0 Service unavailable".
	Reject
	// Quarantine accepts the message and places it on hold.
	Quarantine
)

// ParseAction reads a milter_default_action value.
func ParseAction(s string) (Action, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "tempfail":
		return Tempfail, nil
	case "accept":
		return Accept, nil
	case "reject":
		return Reject, nil
	case "quarantine":
		return Quarantine, nil
	}
	return 0, fmt.Errorf("unknown default action %q (accept, reject, tempfail or quarantine)", s)
}

func (a Action) String() string {
	switch a {
	case Accept:
		return "accept"
	case Reject:
		return "reject"
	case Quarantine:
		return "quarantine"
	}
	return "tempfail"
}

// Macros are the names of the macros sent at each stage, as Postfix's
// milter_*_macros list them ("j", "{daemon_name}"...). A milter may ask
// for others at negotiation.
type Macros struct {
	Connect, Helo, Mail, Rcpt, Data, EOH, EOM, Unknown []string
}

// DefaultMacros are Postfix 3.7's defaults of milter_connect_macros,
// milter_helo_macros, milter_mail_macros, milter_rcpt_macros,
// milter_data_macros, milter_end_of_header_macros and
// milter_end_of_data_macros.
func DefaultMacros() Macros {
	return Macros{
		Connect: []string{"j", "{daemon_name}", "{daemon_addr}", "v", "_"},
		Helo:    []string{"{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}", "{cert_issuer}"},
		Mail:    []string{"i", "{auth_type}", "{auth_authen}", "{auth_author}", "{mail_addr}", "{mail_host}", "{mail_mailer}"},
		Rcpt:    []string{"i", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}"},
		Data:    []string{"i"},
		EOH:     []string{"i"},
		EOM:     []string{"i"},
	}
}

// Spec is one milter: where it listens and how it is talked to.
type Spec struct {
	// Name is the milter as configured ("inet:127.0.0.1:8891"), for logs.
	Name string
	// Network and Address are what net.Dial takes: "tcp" and
	// "127.0.0.1:8891" for inet:, "unix" and a path for unix:.
	Network, Address string
	// DefaultAction applies when the milter is unavailable or breaks the
	// protocol (milter_default_action, or the milter's default_action).
	DefaultAction Action
	// Version is the protocol version offered, 2, 3, 4 or 6
	// (milter_protocol; zero: 6).
	Version int
	// NoHeaderReply offers the no_header_reply extension (a
	// milter_protocol of "6 no_header_reply"... Postfix's "no_header_reply").
	NoHeaderReply bool
	// ConnectTimeout, CommandTimeout and ContentTimeout are
	// milter_connect_timeout (zero: 30s), milter_command_timeout (zero:
	// 30s) and milter_content_timeout (zero: 300s): how long to connect,
	// and to wait for a reply to an envelope command, to message content.
	ConnectTimeout, CommandTimeout, ContentTimeout time.Duration
	// Macros are the macros sent at each stage; a nil list sends none.
	Macros Macros
}

// Defaults are the main.cf settings a milter of a list takes unless its
// own { ... } settings override them.
type Defaults struct {
	DefaultAction                                  Action
	Protocol                                       string // milter_protocol, "6" when empty
	ConnectTimeout, CommandTimeout, ContentTimeout time.Duration
	Macros                                         Macros
}

// ParseList reads a list of milters as smtpd_milters holds it: endpoints
// "inet:host:port" (also "inet:port", on localhost, as Postfix), "unix:PATH"
// and "local:PATH", separated by commas or white space, each optionally in
// Postfix 3.0's form "{ inet:host:port, default_action=accept,
// connect_timeout=10s, command_timeout=10s, content_timeout=60s,
// protocol=6 }", whose settings override d for that milter.
func ParseList(value string, d Defaults) ([]Spec, error) {
	if err := lookup.CheckBraces(value); err != nil {
		return nil, err
	}
	var out []Spec
	for _, tok := range lookup.SplitList(value) {
		var attrs []string
		if strings.HasPrefix(tok, "{") {
			inner := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(tok, "{"), "}"))
			parts := lookup.SplitList(inner)
			if len(parts) == 0 {
				return nil, fmt.Errorf("empty milter in %q", tok)
			}
			tok, attrs = parts[0], parts[1:]
		}
		s, err := parseSpec(tok, attrs, d)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func parseSpec(name string, attrs []string, d Defaults) (Spec, error) {
	s := Spec{Name: name, DefaultAction: d.DefaultAction, ConnectTimeout: d.ConnectTimeout,
		CommandTimeout: d.CommandTimeout, ContentTimeout: d.ContentTimeout, Macros: d.Macros}
	transport, endpoint, ok := strings.Cut(name, ":")
	if !ok || transport == "" || endpoint == "" {
		return s, fmt.Errorf("milter %q: transport:endpoint expected (inet:host:port or unix:/path)", name)
	}
	switch transport {
	case "inet":
		host, port := "localhost", endpoint
		if i := strings.LastIndexByte(endpoint, ':'); i >= 0 {
			host, port = strings.Trim(endpoint[:i], "[]"), endpoint[i+1:]
		}
		if host == "" || port == "" {
			return s, fmt.Errorf("milter %q: host:port expected", name)
		}
		s.Network, s.Address = "tcp", net.JoinHostPort(host, port)
	case "unix", "local":
		s.Network, s.Address = "unix", endpoint
	default:
		return s, fmt.Errorf("milter %q: unknown transport %q (inet, unix or local)", name, transport)
	}
	proto := d.Protocol
	for _, a := range attrs {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return s, fmt.Errorf("milter %q: name=value expected, not %q", name, a)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if strings.HasPrefix(v, "{") && strings.HasSuffix(v, "}") {
			v = strings.TrimSpace(v[1 : len(v)-1])
		}
		var err error
		switch k {
		case "default_action":
			s.DefaultAction, err = ParseAction(v)
		case "protocol":
			proto = v
		case "connect_timeout":
			s.ConnectTimeout, err = lookup.ParseTime(v, 's')
		case "command_timeout":
			s.CommandTimeout, err = lookup.ParseTime(v, 's')
		case "content_timeout":
			s.ContentTimeout, err = lookup.ParseTime(v, 's')
		default:
			err = fmt.Errorf("unknown setting %q", k)
		}
		if err != nil {
			return s, fmt.Errorf("milter %q: %s: %w", name, k, err)
		}
	}
	var err error
	if s.Version, s.NoHeaderReply, err = ParseProtocol(proto); err != nil {
		return s, fmt.Errorf("milter %q: %w", name, err)
	}
	return s, nil
}

// ParseProtocol reads a milter_protocol value: one version (2, 3, 4 or
// 6) and optionally "no_header_reply", as milter8.c reads it.
func ParseProtocol(v string) (version int, noHeaderReply bool, err error) {
	if strings.TrimSpace(v) == "" {
		return 6, false, nil
	}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		switch f {
		case "2", "3", "4", "6":
			if version != 0 {
				return 0, false, fmt.Errorf("bad protocol information: %s", f)
			}
			version, _ = strconv.Atoi(f)
		case "no_header_reply":
			noHeaderReply = true
		default:
			return 0, false, fmt.Errorf("bad protocol information: %s", f)
		}
	}
	if version == 0 {
		return 0, false, fmt.Errorf("no protocol version information in %q", v)
	}
	return version, noHeaderReply, nil
}

// ParseMacros reads a milter_*_macros value: names separated by commas
// or white space.
func ParseMacros(v string) []string { return lookup.SplitList(v) }

func (s *Spec) timeouts() (conn, cmd, content time.Duration) {
	conn, cmd, content = s.ConnectTimeout, s.CommandTimeout, s.ContentTimeout
	if conn <= 0 {
		conn = 30 * time.Second
	}
	if cmd <= 0 {
		cmd = 30 * time.Second
	}
	if content <= 0 {
		content = 300 * time.Second
	}
	return
}
