package relay

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MainCF is a Postfix main.cf: the parameters a file sets, the Postfix 3.7
// defaults of the parameters mxrelay uses, and Postfix's "$name"
// expansion. Parse or Load one with ParseMainCF or LoadMainCF; the zero
// value is an empty main.cf (every parameter at its default) and is ready
// to use.
//
// Values are expanded as Postfix's mac_expand does: "$name", "${name}" and
// "$(name)" insert another parameter (recursively; an undefined name
// inserts nothing and gives a warning), "$$" is a literal "$",
// "${name?text}" and "${name:text}" insert text when name is non-empty or
// empty, "${name?{t}:{f}}" chooses, and "${{a} op {b} ? {t} : {f}}"
// compares (==, !=, <, <=, >, >= numerically or as strings, and the same
// with the "level" suffix for compatibility levels), which is how Postfix
// 3.7 writes its compatibility_level dependent defaults.
//
// A MainCF is not safe for concurrent use: expanding records warnings.
type MainCF struct {
	// Name is the file name used in warnings ("/etc/postfix/main.cf").
	Name string

	// Hostname is what the host-dependent defaults start from: myhostname
	// defaults to it (with ".localdomain" appended when it has no dot, as
	// Postfix does). Empty: os.Hostname().
	Hostname string
	// InterfaceAddrs lists the machine's addresses for the mynetworks
	// default (mynetworks_style). Nil: net.InterfaceAddrs.
	InterfaceAddrs func() ([]netip.Prefix, error)

	values   map[string]string
	order    []string
	warnings []string
}

// ParseMainCF reads a main.cf. name is used in warnings. Syntax errors do
// not fail the parse: like Postfix, the line is skipped with a warning
// (see Warnings). Only a read error is returned.
func ParseMainCF(r io.Reader, name string) (*MainCF, error) {
	c := &MainCF{Name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxMainCFLine)
	lineNo, start := 0, 0
	var logical strings.Builder
	flush := func() {
		if logical.Len() == 0 {
			return
		}
		c.parseLine(logical.String(), start)
		logical.Reset()
	}
	for sc.Scan() {
		lineNo++
		line := strings.TrimSuffix(sc.Text(), "\r")
		trimmed := strings.TrimLeft(line, " \t\r\n\v\f")
		if trimmed == "" || trimmed[0] == '#' {
			continue // comments and blank lines never end a logical line
		}
		if line[0] == ' ' || line[0] == '\t' {
			if logical.Len() == 0 {
				c.warnf("%s, line %d: logical line must not start with whitespace: %q", c.name(), lineNo, line)
				continue
			}
			logical.WriteString(line)
			continue
		}
		flush()
		start = lineNo
		logical.WriteString(line)
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("relay: reading %s: %w", c.name(), err)
	}
	return c, nil
}

// maxMainCFLine caps one physical line of main.cf.
const maxMainCFLine = 1 << 20

// LoadMainCF reads the main.cf at path.
func LoadMainCF(path string) (*MainCF, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	defer f.Close()
	return ParseMainCF(f, path)
}

func (c *MainCF) name() string {
	if c.Name == "" {
		return "main.cf"
	}
	return c.Name
}

// warnf records a warning once: expansion runs at every Get.
func (c *MainCF) warnf(format string, args ...any) {
	w := fmt.Sprintf(format, args...)
	if !slices.Contains(c.warnings, w) {
		c.warnings = append(c.warnings, w)
	}
}

// parseLine splits "name = value" as Postfix's split_nameval does.
func (c *MainCF) parseLine(line string, lineNo int) {
	eq := strings.IndexByte(line, '=')
	if eq < 0 {
		c.warnf("%s, line %d: missing '=' after attribute name: %q", c.name(), lineNo, line)
		return
	}
	name := strings.TrimRight(line[:eq], " \t\r\n\v\f")
	value := strings.Trim(line[eq+1:], " \t\r\n\v\f")
	if name == "" || !isParamName(name) {
		c.warnf("%s, line %d: bad parameter name %q", c.name(), lineNo, name)
		return
	}
	c.Set(name, value)
}

func isParamName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return s != ""
}

func isNameByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// Set sets a parameter as a main.cf line would (as "postconf -o" does). A
// later Set of the same name wins, as a later line in main.cf does.
func (c *MainCF) Set(name, value string) {
	if c.values == nil {
		c.values = make(map[string]string)
	}
	if _, ok := c.values[name]; !ok {
		c.order = append(c.order, name)
	}
	c.values[name] = value
}

// Raw returns the value a parameter is set to in the file, unexpanded,
// and whether it is set.
func (c *MainCF) Raw(name string) (string, bool) {
	v, ok := c.values[name]
	return v, ok
}

// Names returns the parameters set in the file, in file order.
func (c *MainCF) Names() []string { return slices.Clone(c.order) }

// Warnings returns the parse and expansion warnings seen so far, worded as
// Postfix words them where it has a wording.
func (c *MainCF) Warnings() []string { return slices.Clone(c.warnings) }

// Ignored returns the parameters the file sets that mxrelay does not use
// and that no used parameter refers to through "$name", sorted. They are
// accepted (a Postfix main.cf carries many) but have no effect.
func (c *MainCF) Ignored() []string {
	used := make(map[string]bool)
	var visit func(name string)
	visit = func(name string) {
		if used[name] {
			return
		}
		used[name] = true
		v, ok := c.values[name]
		if !ok {
			v, _ = c.defaultValue(name)
		}
		for _, ref := range paramRefs(v) {
			visit(ref)
		}
	}
	for _, p := range knownParams {
		visit(p.name)
	}
	var out []string
	for _, n := range c.order {
		if !used[n] {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Known reports whether mxrelay uses the parameter.
func Known(name string) bool {
	_, ok := findParam(name)
	return ok
}

// Lookup returns the expanded value of a parameter: the file's value, else
// the default of a known parameter. ok is false for an unknown parameter
// that the file does not set.
func (c *MainCF) Lookup(name string) (value string, ok bool) {
	raw, ok := c.values[name]
	if !ok {
		raw, ok = c.defaultValue(name)
		if !ok {
			return "", false
		}
	}
	e := expander{c: c, active: map[string]bool{name: true}}
	return e.expand(raw, 0), true
}

// Get returns the expanded value of a parameter, "" when it is unknown and
// unset.
func (c *MainCF) Get(name string) string {
	v, _ := c.Lookup(name)
	return v
}

// Bool returns a yes/no parameter.
func (c *MainCF) Bool(name string) (bool, error) {
	v := c.Get(name)
	switch strings.ToLower(v) {
	case "yes", "true":
		return true, nil
	case "no", "false":
		return false, nil
	}
	return false, c.badValue(name, v, "expected yes or no")
}

// Int returns an integer parameter (message_size_limit,
// smtpd_recipient_limit).
func (c *MainCF) Int(name string) (int64, error) {
	v := c.Get(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, c.badValue(name, v, "expected an integer")
	}
	return n, nil
}

// Duration returns a time parameter: a number with an optional unit s, m,
// h, d or w. A number without unit takes the parameter's default unit as
// in Postfix (days for maximal_queue_lifetime and bounce_queue_lifetime,
// hours for delay_warning_time, seconds otherwise).
func (c *MainCF) Duration(name string) (time.Duration, error) {
	v := c.Get(name)
	unit := byte('s')
	if p, ok := findParam(name); ok && p.unit != 0 {
		unit = p.unit
	}
	d, err := ParseDuration(v, unit)
	if err != nil {
		return 0, c.badValue(name, v, err.Error())
	}
	return d, nil
}

// ParseDuration parses a Postfix time value ("300s", "5d", "1w", "0") with
// defUnit the unit of a bare number. Units are s, m, h, d, w.
func ParseDuration(v string, defUnit byte) (time.Duration, error) {
	if v == "" {
		return 0, fmt.Errorf("empty time value")
	}
	num, unit := v, defUnit
	if last := v[len(v)-1]; last < '0' || last > '9' {
		num, unit = v[:len(v)-1], last|0x20
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || num[0] == '+' {
		return 0, fmt.Errorf("bad time value %q", v)
	}
	var u time.Duration
	switch unit {
	case 's':
		u = time.Second
	case 'm':
		u = time.Minute
	case 'h':
		u = time.Hour
	case 'd':
		u = 24 * time.Hour
	case 'w':
		u = 7 * 24 * time.Hour
	default:
		return 0, fmt.Errorf("bad time unit in %q", v)
	}
	if n > int64(1<<62)/int64(u) {
		return 0, fmt.Errorf("time value %q out of range", v)
	}
	return time.Duration(n) * u, nil
}

// List returns a list parameter split at commas and white space. A
// "{...}" group stays one element, braces included, as Postfix's mystrtokq
// keeps it.
func (c *MainCF) List(name string) []string { return SplitList(c.Get(name)) }

// SplitList splits a Postfix list value at commas and white space, keeping
// "{...}" groups whole.
func SplitList(v string) []string {
	var out []string
	depth, start := 0, -1
	for i := 0; i < len(v); i++ {
		b := v[i]
		sep := depth == 0 && (b == ',' || b == ' ' || b == '\t' || b == '\r' || b == '\n')
		switch {
		case sep:
			if start >= 0 {
				out = append(out, v[start:i])
				start = -1
			}
			continue
		case b == '{':
			depth++
		case b == '}' && depth > 0:
			depth--
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, v[start:])
	}
	return out
}

func (c *MainCF) badValue(name, v, why string) error {
	return &ConfigError{Param: name, Value: v, Reason: why}
}

// ConfigError is a parameter whose value cannot be used.
type ConfigError struct {
	Param  string // the parameter name: "message_size_limit"
	Value  string // its expanded value
	Reason string // what is wrong with it
}

// Error returns "bad parameter value: name = value: reason".
func (e *ConfigError) Error() string {
	return fmt.Sprintf("relay: bad parameter value: %s = %s: %s", e.Param, e.Value, e.Reason)
}

// param is one parameter mxrelay uses, with its Postfix 3.7 default as
// Postfix writes it (postconf -d).
type param struct {
	name string
	def  string
	unit byte // default time unit; 0 = 's' or not a time
}

// knownParams are the main.cf parameters mxrelay reads, with Postfix
// 3.7.11's defaults (postconf -d) verbatim; "" defaults of host-dependent
// parameters are computed in defaultValue.
var knownParams = [...]param{
	{name: "compatibility_level", def: "0"},
	{name: "mail_name", def: "Postfix"},
	{name: "myhostname"},
	{name: "mydomain"},
	{name: "myorigin", def: "$myhostname"},
	{name: "mydestination", def: "$myhostname, localhost.$mydomain, localhost"},
	{name: "inet_interfaces", def: "all"},
	{name: "inet_protocols", def: "all"},
	{name: "proxy_interfaces", def: ""},
	{name: "mynetworks"},
	{name: "mynetworks_style", def: "${{$compatibility_level} <level {2} ? {subnet} : {host}}"},
	{name: "relay_domains", def: "${{$compatibility_level} <level {2} ? {$mydestination} : {}}"},
	{name: "relay_recipient_maps", def: ""},
	{name: "transport_maps", def: ""},
	{name: "relay_transport", def: "relay"},
	{name: "default_transport", def: "smtp"},
	{name: "local_transport", def: "local:$myhostname"},
	{name: "virtual_transport", def: "virtual"},
	{name: "relayhost", def: ""},
	{name: "fallback_relay", def: ""},
	{name: "smtp_fallback_relay", def: "$fallback_relay"},
	{name: "smtpd_relay_restrictions", def: "${{$compatibility_level} <level {1} ? {} : {permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination}}"},
	{name: "smtpd_recipient_restrictions", def: ""},
	{name: "smtpd_client_restrictions", def: ""},
	{name: "smtpd_helo_restrictions", def: ""},
	{name: "smtpd_sender_restrictions", def: ""},
	{name: "smtpd_relay_before_recipient_restrictions", def: "${{$compatibility_level} <level {3.6} ? {no} : {yes}}"},
	{name: "smtpd_reject_unlisted_recipient", def: "yes"},
	{name: "smtpd_delay_reject", def: "yes"},
	{name: "recipient_delimiter", def: ""},
	{name: "owner_request_special", def: "yes"},
	{name: "allow_untrusted_routing", def: "no"},
	{name: "parent_domain_matches_subdomains", def: "debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,qmqpd_authorized_clients,relay_domains,smtpd_access_maps"},
	{name: "virtual_alias_domains", def: "$virtual_alias_maps"},
	{name: "virtual_alias_maps", def: "$virtual_maps"},
	{name: "virtual_maps", def: ""},
	{name: "virtual_mailbox_domains", def: "$virtual_mailbox_maps"},
	{name: "virtual_mailbox_maps", def: ""},
	{name: "relocated_maps", def: ""},
	{name: "local_recipient_maps", def: "proxy:unix:passwd.byname $alias_maps"},
	{name: "alias_maps", def: "hash:/etc/aliases, nis:mail.aliases"},
	{name: "message_size_limit", def: "10240000"},
	{name: "header_size_limit", def: "102400"},
	{name: "hopcount_limit", def: "50"},
	{name: "smtpd_recipient_limit", def: "1000"},
	{name: "smtpd_soft_error_limit", def: "10"},
	{name: "smtpd_hard_error_limit", def: "${stress?{1}:{20}}"},
	{name: "smtpd_junk_command_limit", def: "${stress?{1}:{100}}"},
	{name: "smtpd_error_sleep_time", def: "1s"},
	{name: "smtpd_timeout", def: "${stress?{10}:{300}}s"},
	{name: "smtpd_client_connection_count_limit", def: "50"},
	{name: "smtpd_banner", def: "$myhostname ESMTP $mail_name"},
	{name: "smtputf8_enable", def: "${{$compatibility_level} <level {1} ? {no} : {yes}}"},
	{name: "soft_bounce", def: "no"},
	{name: "maximal_queue_lifetime", def: "5d", unit: 'd'},
	{name: "bounce_queue_lifetime", def: "5d", unit: 'd'},
	{name: "minimal_backoff_time", def: "300s"},
	{name: "maximal_backoff_time", def: "4000s"},
	{name: "queue_run_delay", def: "300s"},
	{name: "delay_warning_time", def: "0h", unit: 'h'},
	{name: "unknown_relay_recipient_reject_code", def: "550"},
	{name: "relay_domains_reject_code", def: "554"},
	{name: "stress", def: ""},
	{name: "smtpd_tls_security_level", def: ""},
	{name: "smtpd_use_tls", def: "no"},
	{name: "smtpd_enforce_tls", def: "no"},
	{name: "smtpd_tls_cert_file", def: ""},
	{name: "smtpd_tls_key_file", def: "$smtpd_tls_cert_file"},
	{name: "smtpd_tls_chain_files", def: ""},
	{name: "default_destination_concurrency_limit", def: "20"},
	{name: "default_process_limit", def: "100"},
	{name: "smtp_tls_security_level", def: ""},
	{name: "smtp_tls_policy_maps", def: ""},
	{name: "smtp_tls_CAfile", def: ""},
}

func findParam(name string) (param, bool) {
	for _, p := range knownParams {
		if p.name == name {
			return p, true
		}
	}
	return param{}, false
}

// defaultValue returns the unexpanded default of a known parameter.
func (c *MainCF) defaultValue(name string) (string, bool) {
	switch name {
	case "myhostname":
		return c.defaultHostname(), true
	case "mydomain":
		return defaultDomain(c.Get("myhostname")), true
	case "mynetworks":
		return c.defaultMynetworks(), true
	}
	p, ok := findParam(name)
	return p.def, ok
}

// defaultHostname is Postfix's myhostname default: the host name, made
// fully qualified with ".localdomain" when it has no dot.
func (c *MainCF) defaultHostname() string {
	h := c.Hostname
	if h == "" {
		h, _ = os.Hostname()
	}
	if h == "" {
		h = "localhost"
	}
	if !strings.Contains(h, ".") {
		h += ".localdomain"
	}
	return strings.ToLower(h)
}

// defaultDomain is Postfix's mydomain default: myhostname without its
// first label ("localdomain" for a name without a dot).
func defaultDomain(host string) string {
	_, rest, ok := strings.Cut(host, ".")
	if !ok || rest == "" {
		return "localdomain"
	}
	return rest
}

// defaultMynetworks follows mynetworks_style: "host" lists the machine's
// own addresses, "subnet" (and "class", approximated) their networks.
func (c *MainCF) defaultMynetworks() string {
	addrs := c.InterfaceAddrs
	if addrs == nil {
		addrs = systemInterfaceAddrs
	}
	prefixes, err := addrs()
	if err != nil {
		c.warnf("%s: cannot list interface addresses for mynetworks: %v", c.name(), err)
		return "127.0.0.0/8 [::1]/128"
	}
	host := c.Get("mynetworks_style") == "host"
	protos := c.List("inet_protocols")
	v4 := slices.Contains(protos, "all") || slices.Contains(protos, "ipv4")
	v6 := slices.Contains(protos, "all") || slices.Contains(protos, "ipv6")
	var parts []string
	for _, p := range prefixes {
		a := p.Addr().WithZone("")
		if a.Is4() && !v4 || a.Is6() && !v6 {
			continue
		}
		if host {
			p = netip.PrefixFrom(a, a.BitLen())
		} else {
			p = netip.PrefixFrom(a, p.Bits()).Masked()
		}
		s := p.String()
		if p.Addr().Is6() {
			s = "[" + p.Addr().String() + "]/" + strconv.Itoa(p.Bits())
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func systemInterfaceAddrs() ([]netip.Prefix, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok {
				continue
			}
			ones, _ := n.Mask.Size()
			out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
		}
	}
	return out, nil
}

// maxExpandDepth bounds recursive expansion, as Postfix's mac_expand
// bounds it (it reports "unreasonable macro call nesting").
const maxExpandDepth = 100

// maxExpandWork bounds the work of one expansion (bytes produced plus
// references followed): "$a$a$a..." chains grow exponentially.
const maxExpandWork = 1 << 20

type expander struct {
	c      *MainCF
	active map[string]bool // names being expanded, to stop loops
	work   int
	over   bool
}

// spend accounts for n units of work and reports whether the budget holds.
func (e *expander) spend(n int) bool {
	e.work += n
	if e.work > maxExpandWork {
		if !e.over {
			e.over = true
			e.c.warnf("%s: parameter expansion too large, truncated", e.c.name())
		}
		return false
	}
	return true
}

// expand performs Postfix's mac_expand on s.
func (e *expander) expand(s string, depth int) string {
	if !e.spend(len(s)) {
		return ""
	}
	if depth > maxExpandDepth || !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		ch := s[i]
		if ch != '$' || i+1 == len(s) {
			b.WriteByte(ch)
			i++
			continue
		}
		next := s[i+1]
		switch {
		case next == '$':
			b.WriteByte('$')
			i += 2
		case next == '{' || next == '(':
			closeCh := byte('}')
			if next == '(' {
				closeCh = ')'
			}
			end := matchBracket(s, i+1, next, closeCh)
			if end < 0 {
				e.c.warnf("%s: unbalanced %q in %q", e.c.name(), string(next), s)
				b.WriteString(s[i:])
				return b.String()
			}
			b.WriteString(e.expandBraced(s[i+2:end], depth))
			i = end + 1
		case isNameByte(next):
			j := i + 1
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			b.WriteString(e.value(s[i+1:j], depth))
			i = j
		default:
			b.WriteByte(ch)
			i++
		}
	}
	return b.String()
}

// matchBracket returns the index of the bracket closing the one at open.
func matchBracket(s string, open int, o, c byte) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case o:
			depth++
		case c:
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// value expands parameter name.
func (e *expander) value(name string, depth int) string {
	if e.active[name] {
		e.c.warnf("%s: recursive reference to parameter %s", e.c.name(), name)
		return ""
	}
	raw, ok := e.c.values[name]
	if !ok {
		raw, ok = e.c.defaultValue(name)
	}
	if !ok {
		e.c.warnf("%s: undefined parameter: %s", e.c.name(), name)
		return ""
	}
	e.active[name] = true
	v := e.expand(raw, depth+1)
	delete(e.active, name)
	return v
}

// expandBraced expands the inside of "${...}".
func (e *expander) expandBraced(in string, depth int) string {
	if strings.HasPrefix(in, "{") {
		return e.relational(in, depth)
	}
	j := 0
	for j < len(in) && isNameByte(in[j]) {
		j++
	}
	name, rest := in[:j], in[j:]
	if name == "" {
		e.c.warnf("%s: bad macro expression: ${%s}", e.c.name(), in)
		return ""
	}
	if rest == "" {
		return e.value(name, depth)
	}
	op, text := rest[0], rest[1:]
	if op != '?' && op != ':' {
		e.c.warnf("%s: bad macro expression: ${%s}", e.c.name(), in)
		return ""
	}
	set := e.valueQuiet(name, depth) != ""
	if t, f, ok := splitChoice(text); ok && op == '?' {
		if set {
			return e.expand(t, depth+1)
		}
		return e.expand(f, depth+1)
	}
	if strings.HasPrefix(text, "{") && strings.HasSuffix(text, "}") && matchBracket(text, 0, '{', '}') == len(text)-1 {
		text = text[1 : len(text)-1]
	}
	if set == (op == '?') {
		return e.expand(text, depth+1)
	}
	return ""
}

// valueQuiet is value without the undefined-parameter warning, for the
// "${name?...}" tests.
func (e *expander) valueQuiet(name string, depth int) string {
	if _, ok := e.c.values[name]; !ok {
		if _, ok := e.c.defaultValue(name); !ok {
			return ""
		}
	}
	return e.value(name, depth)
}

// splitChoice splits "{t}:{f}" (white space allowed around ':').
func splitChoice(s string) (t, f string, ok bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") {
		return "", "", false
	}
	end := matchBracket(s, 0, '{', '}')
	if end < 0 {
		return "", "", false
	}
	t, rest := s[1:end], strings.TrimSpace(s[end+1:])
	if !strings.HasPrefix(rest, ":") {
		return "", "", false
	}
	rest = strings.TrimSpace(rest[1:])
	if !strings.HasPrefix(rest, "{") || matchBracket(rest, 0, '{', '}') != len(rest)-1 {
		return "", "", false
	}
	return t, rest[1 : len(rest)-1], true
}

// relational evaluates "{a} op {b} ? {t} : {f}".
func (e *expander) relational(in string, depth int) string {
	bad := func() string {
		e.c.warnf("%s: bad relational expression: ${%s}", e.c.name(), in)
		return ""
	}
	end := matchBracket(in, 0, '{', '}')
	if end < 0 {
		return bad()
	}
	lhs := strings.TrimSpace(e.expand(in[1:end], depth+1))
	rest := strings.TrimSpace(in[end+1:])
	opEnd := strings.IndexByte(rest, '{')
	if opEnd < 0 {
		return bad()
	}
	op := strings.TrimSpace(rest[:opEnd])
	rest = rest[opEnd:]
	end = matchBracket(rest, 0, '{', '}')
	if end < 0 {
		return bad()
	}
	rhs := strings.TrimSpace(e.expand(rest[1:end], depth+1))
	rest = strings.TrimSpace(rest[end+1:])
	if !strings.HasPrefix(rest, "?") {
		return bad()
	}
	t, f, ok := splitChoice(rest[1:])
	if !ok {
		// "? {t}" alone: nothing when false.
		r := strings.TrimSpace(rest[1:])
		if !strings.HasPrefix(r, "{") || matchBracket(r, 0, '{', '}') != len(r)-1 {
			return bad()
		}
		t, f = r[1:len(r)-1], ""
	}
	res, ok := compare(lhs, op, rhs)
	if !ok {
		return bad()
	}
	if res {
		return e.expand(t, depth+1)
	}
	return e.expand(f, depth+1)
}

// compare evaluates one relational operator of mac_expand.
func compare(a, op, b string) (bool, bool) {
	var cmp int
	if base, ok := strings.CutSuffix(op, "level"); ok {
		la, ok1 := parseLevel(a)
		lb, ok2 := parseLevel(b)
		if !ok1 || !ok2 {
			return false, false
		}
		cmp, op = slices.Compare(la, lb), base
	} else if op == "==" || op == "!=" {
		cmp = strings.Compare(a, b)
		if na, err1 := strconv.ParseInt(a, 10, 64); err1 == nil {
			if nb, err2 := strconv.ParseInt(b, 10, 64); err2 == nil {
				cmp = cmpInt(na, nb)
			}
		}
	} else {
		na, err1 := strconv.ParseInt(a, 10, 64)
		nb, err2 := strconv.ParseInt(b, 10, 64)
		if err1 != nil || err2 != nil {
			return false, false
		}
		cmp = cmpInt(na, nb)
	}
	switch op {
	case "==":
		return cmp == 0, true
	case "!=":
		return cmp != 0, true
	case "<":
		return cmp < 0, true
	case "<=":
		return cmp <= 0, true
	case ">":
		return cmp > 0, true
	case ">=":
		return cmp >= 0, true
	}
	return false, false
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseLevel parses a compatibility level "major[.minor[.patch]]".
func parseLevel(s string) ([]int, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return nil, false
	}
	out := make([]int, 3)
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// paramRefs returns the parameter names a value refers to with $name,
// ${name...} or $(name...).
func paramRefs(v string) []string {
	var out []string
	for i := 0; i < len(v)-1; i++ {
		if v[i] != '$' {
			continue
		}
		j := i + 1
		if v[j] == '$' {
			i++
			continue
		}
		if v[j] == '{' || v[j] == '(' {
			j++
		}
		k := j
		for k < len(v) && isNameByte(v[k]) {
			k++
		}
		if k > j {
			out = append(out, v[j:k])
		}
	}
	return out
}
