package maincf

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// A Listener is an SMTP service of master.cf: an "inet" service whose
// command is smtpd, or postscreen (which hands its clients to the
// "smtpd pass" service, whose overrides then apply).
type Listener struct {
	// Service is the service name as written: "smtp", "submission",
	// "127.0.0.1:10025", "[::1]:smtp".
	Service string
	// Host is the address written before the port; empty means every
	// inet_interfaces address, as Postfix binds a service without one.
	Host string
	// Port is the TCP port (a name is resolved with Postfix's usual
	// service names: smtp 25, submission 587, submissions and smtps 465).
	Port int
	// Command is "smtpd" or "postscreen".
	Command string
	// Overrides are the "-o name=value" settings of the service, in
	// order: main.cf parameters that apply to this listener only.
	Overrides []Override
	// Line is the service's line in master.cf.
	Line int
}

// Override is one "-o name=value" of a master.cf service.
type Override struct{ Name, Value string }

// serviceLine is one logical master.cf line, split in fields.
type serviceLine struct {
	fields []string
	line   int
}

// servicePorts are the service names master.cf listeners use, as
// /etc/services gives them.
var servicePorts = map[string]int{"smtp": 25, "submission": 587, "submissions": 465, "smtps": 465}

// Listeners returns the SMTP listeners of the master.cf beside main.cf
// (Load reads it), and whether there was one. A service whose port is
// neither a number nor a known name, or whose -o is malformed, is an
// error that names it.
func (f *File) Listeners() ([]Listener, bool, error) {
	if f.commands == nil {
		return nil, false, nil
	}
	var pass []Override
	for _, s := range f.masterLines {
		if len(s.fields) >= 8 && s.fields[0] == "smtpd" && s.fields[1] == "pass" && s.fields[7] == "smtpd" {
			o, err := overrides(s)
			if err != nil {
				return nil, true, err
			}
			pass = o
		}
	}
	var out []Listener
	for _, s := range f.masterLines {
		if len(s.fields) < 8 || s.fields[1] != "inet" || (s.fields[7] != "smtpd" && s.fields[7] != "postscreen") {
			continue
		}
		l := Listener{Service: s.fields[0], Command: s.fields[7], Line: s.line}
		host, port := "", s.fields[0]
		if i := strings.LastIndexByte(port, ':'); i >= 0 {
			host, port = strings.Trim(port[:i], "[]"), port[i+1:]
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			if n = servicePorts[port]; n == 0 {
				return nil, true, fmt.Errorf("maincf: master.cf line %d: service %q: unknown port %q", s.line, s.fields[0], port)
			}
		}
		if n <= 0 || n > 65535 {
			return nil, true, fmt.Errorf("maincf: master.cf line %d: service %q: port %d out of range", s.line, s.fields[0], n)
		}
		if host != "" && net.ParseIP(host) == nil {
			return nil, true, fmt.Errorf("maincf: master.cf line %d: service %q: %q is not an IP address", s.line, s.fields[0], host)
		}
		l.Host, l.Port = host, n
		if l.Overrides, err = overrides(s); err != nil {
			return nil, true, err
		}
		if l.Command == "postscreen" {
			l.Overrides = append(append([]Override(nil), l.Overrides...), pass...)
		}
		out = append(out, l)
	}
	return out, true, nil
}

// overrides reads the "-o name=value" arguments of a service: "-o" then
// "name=value", or "-o name=value" joined, or Postfix 3's
// "-o { name = value with spaces }".
func overrides(s serviceLine) ([]Override, error) {
	args := s.fields[8:]
	var out []Override
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a != "-o" && !strings.HasPrefix(a, "-o") {
			continue
		}
		var kv string
		switch {
		case a != "-o":
			kv = a[2:]
		case i+1 < len(args) && strings.HasPrefix(args[i+1], "{"):
			// Braces nest, as in "-o { x = inline:{ a=b } }".
			var parts []string
			depth := 0
			for i++; i < len(args); i++ {
				parts = append(parts, args[i])
				depth += strings.Count(args[i], "{") - strings.Count(args[i], "}")
				if depth <= 0 {
					break
				}
			}
			if depth != 0 {
				return nil, fmt.Errorf("maincf: master.cf line %d: service %q: unbalanced { in -o", s.line, s.fields[0])
			}
			kv = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.Join(parts, " "), "{"), "}"))
		case i+1 < len(args):
			i++
			kv = args[i]
		default:
			return nil, fmt.Errorf("maincf: master.cf line %d: service %q: -o without a value", s.line, s.fields[0])
		}
		name, value, ok := strings.Cut(kv, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("maincf: master.cf line %d: service %q: -o %q is not name=value", s.line, s.fields[0], kv)
		}
		out = append(out, Override{Name: name, Value: strings.TrimSpace(value)})
	}
	return out, nil
}
