package maincf

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// debianServices are the services of Debian's default master.cf, assumed
// when no master.cf is known.
var debianServices = []string{
	"smtp", "pickup", "cleanup", "qmgr", "tlsmgr", "rewrite", "bounce", "defer", "trace",
	"verify", "flush", "proxymap", "proxywrite", "relay", "showq", "error", "retry",
	"discard", "local", "virtual", "lmtp", "anvil", "scache", "postlog", "maildrop",
	"uucp", "ifmail", "bsmtp", "scalemail-backend", "mailman",
}

// master is what mxrelay reads from a master.cf.
type master struct {
	services []string        // the first field of each service line
	commands map[string]bool // the commands services run (8th field)
	refs     map[string]bool // main.cf parameters lines refer to with $name
	// smtpdMaxproc is the sum of the maxproc fields (7th) of the smtpd
	// services that receive mail on port 25 (see isMXService); 0 when
	// there is none or one of them says "-" or "0".
	smtpdMaxproc int
	lines        []serviceLine // every service line, split in fields
}

// readMaster reads a master.cf. Only the service names, the commands and
// the process limit of the port-25 smtpd are read; what the services run
// is not mxrelay's business.
func readMaster(path string) (master, error) {
	r, err := os.Open(path)
	if err != nil {
		return master{}, err
	}
	defer r.Close()
	m := master{commands: map[string]bool{}, refs: map[string]bool{}}
	unlimited := false
	// service takes one logical line: a line that starts in column one
	// and the indented lines that continue it, as master(5) reads them.
	service := func(line string, lineNo int) {
		fields := strings.Fields(line)
		if len(fields) < 8 {
			return
		}
		m.lines = append(m.lines, serviceLine{fields: fields, line: lineNo})
		m.services = append(m.services, fields[0])
		m.commands[fields[7]] = true
		if isMXService(fields[0], fields[1], fields[7]) {
			if n, err := strconv.Atoi(fields[6]); err == nil && n > 0 {
				m.smtpdMaxproc += n
			} else {
				unlimited = true // "-" (default_process_limit) or "0" (none)
			}
		}
	}
	var logical strings.Builder
	start, lineNo := 0, 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if t := strings.TrimSpace(line); t == "" || t[0] == '#' {
			continue // blank and comment lines, even indented, as master(5)
		}
		// "-o name=$other" overrides refer to main.cf parameters, which
		// Postfix then does not report as unused.
		for _, ref := range paramRefs(line) {
			m.refs[ref] = true
		}
		if line[0] != ' ' && line[0] != '\t' {
			service(logical.String(), start)
			logical.Reset()
			start = lineNo
		}
		if logical.Len() < maxLine {
			logical.WriteString(line)
			logical.WriteByte(' ')
		}
	}
	service(logical.String(), start)
	if unlimited {
		m.smtpdMaxproc = 0
	}
	return m, sc.Err()
}

// isMXService reports whether a master.cf service is an smtpd that takes
// port 25 connections: "smtp inet ... smtpd" (or "25", "host:smtp",
// "[::1]:25"), or the "smtpd pass ... smtpd" behind postscreen.
func isMXService(name, typ, command string) bool {
	if command != "smtpd" {
		return false
	}
	switch typ {
	case "pass":
		return name == "smtpd"
	case "inet":
		port := name[strings.LastIndexByte(name, ':')+1:]
		return port == "smtp" || port == "25"
	}
	return false
}

// SMTPDProcessLimit returns the process limit (maxproc) that master.cf
// gives the smtpd services receiving mail on port 25, summed over them,
// or 0 when it is not a number: no master.cf beside main.cf, or a
// maxproc of "-" (default_process_limit) or "0" (no limit). relay.Load
// caps the SMTP server's connections at a number set there and otherwise
// keeps relay.ServerConfig's default, which is deliberately far above
// default_process_limit: an idle session costs kilobytes, not a process.
func (f *File) SMTPDProcessLimit() int { return f.smtpdMaxproc }

// setMaster takes what Load read from the master.cf beside main.cf.
func (f *File) setMaster(m master) {
	f.Services, f.commands, f.masterRefs, f.smtpdMaxproc = m.services, m.commands, m.refs, m.smtpdMaxproc
	f.masterLines = m.lines
}

// services returns the master.cf services in effect.
func (f *File) services() []string {
	if f.Services == nil {
		return debianServices
	}
	return f.Services
}

// runs reports whether a master.cf service runs the command (the 8th
// field, "postscreen"). With no master.cf read, it is presumed to.
func (f *File) runs(command string) bool {
	if f.commands == nil {
		return true
	}
	return f.commands[command]
}
