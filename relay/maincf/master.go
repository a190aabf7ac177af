package maincf

import (
	"bufio"
	"os"
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

// readServices returns the service names of a master.cf: the first field
// of each logical line, the set of commands (the 8th field), and the
// main.cf parameters its lines refer to with $name. Only the names are read; what the services run is
// not mxrelay's business here, but for the commands they run.
func readServices(path string) (services []string, commands, refs map[string]bool, err error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	defer r.Close()
	commands, refs = map[string]bool{}, map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		// "-o name=$other" overrides refer to main.cf parameters, which
		// Postfix then does not report as unused.
		for _, ref := range paramRefs(line) {
			refs[ref] = true
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if fields := strings.Fields(line); len(fields) >= 8 {
			services = append(services, fields[0])
			commands[fields[7]] = true
		}
	}
	return services, commands, refs, sc.Err()
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
