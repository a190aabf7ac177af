package maincf

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// File is a Postfix main.cf: the parameters it sets, in file order, with
// the line each was set on, and Postfix 3.7's defaults for every other
// parameter. Parse or Load one; the zero value is an empty main.cf (every
// parameter at its Postfix default, compatibility_level 0) and is ready
// to use. Like Postfix, compatibility_level 0 means the backwards-compatible
// defaults (an empty smtpd_relay_restrictions), which relay.Load refuses
// as an open relay: Set compatibility_level = 3.6 first, as Debian's
// main.cf does.
//
// A File is not safe for concurrent use: reading a value records the
// expansion warnings.
type File struct {
	// Name is the file name used in messages ("/etc/postfix/main.cf").
	Name string

	// Hostname is what the host-dependent defaults start from: myhostname
	// defaults to it (with ".localdomain" appended when it has no dot, as
	// Postfix does). Empty: os.Hostname().
	Hostname string
	// InterfaceAddrs lists the machine's addresses for the mynetworks
	// default (mynetworks_style) and inet_interfaces = all. Nil:
	// net.InterfaceAddrs.
	InterfaceAddrs func() ([]netip.Prefix, error)
	// Services are the master.cf service names, which make per-service
	// parameters (SERVICE_destination_concurrency_limit) known. Nil: the
	// services of Debian's default master.cf. Load reads them from the
	// master.cf beside main.cf when there is one.
	Services []string

	values       map[string]string
	lines        map[string]int
	order        []string
	warnings     []string
	read         map[string]bool
	commands     map[string]bool         // master.cf commands; nil: unknown
	masterRefs   map[string]bool         // parameters master.cf refers to with $name
	smtpdMaxproc int                     // master.cf's port-25 smtpd maxproc; 0: none set
	masterLines  []serviceLine           // master.cf's service lines, for Listeners
	configDir    string                  // the directory Load read main.cf from
	tables       map[string]lookup.Table // SetTable's tables, by spec
}

// maxLine caps one physical line of main.cf.
const maxLine = 1 << 20

// Parse reads a main.cf. name is used in messages. A logical line is a
// line that starts with a non-blank character, followed by the lines that
// start with white space; comment lines and blank lines are skipped and do
// not end a logical line (Postfix's readlline). A logical line that is not
// "name = value" is an error, as Postfix refuses to start with it; a
// leading continuation line is skipped with Postfix's warning.
func Parse(r io.Reader, name string) (*File, error) {
	f := &File{Name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine)
	lineNo, start := 0, 0
	var logical strings.Builder
	flush := func() error {
		if logical.Len() == 0 {
			return nil
		}
		err := f.parseLine(logical.String(), start)
		logical.Reset()
		return err
	}
	for sc.Scan() {
		lineNo++
		line := strings.TrimSuffix(sc.Text(), "\r")
		trimmed := strings.TrimLeft(line, blanks)
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if logical.Len() == 0 {
				f.warnf("%s: logical line must not start with whitespace: %q", f.name(), line)
				continue
			}
			logical.WriteString(line)
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		start = lineNo
		logical.WriteString(line)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("maincf: reading %s: %w", f.name(), err)
	}
	return f, nil
}

// blanks is what Postfix's ISSPACE accepts.
const blanks = " \t\r\n\v\f"

// Load reads the main.cf at path, and the service names of the master.cf
// in the same directory when there is one. config_directory defaults to
// that directory, as it does for "postfix -c DIR" (and MAIL_CONFIG), so
// that "$config_directory/relay_recipients" names the file beside main.cf.
func Load(path string) (*File, error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("maincf: %w", err)
	}
	defer r.Close()
	f, err := Parse(r, path)
	if err != nil {
		return nil, err
	}
	m, err := readMaster(filepath.Join(filepath.Dir(path), "master.cf"))
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("maincf: %w", err)
	}
	f.setMaster(m)
	if dir, err := filepath.Abs(filepath.Dir(path)); err == nil {
		f.configDir = dir
	}
	return f, nil
}

// SyntaxError is a main.cf line that is not "name = value".
type SyntaxError struct {
	File   string // the file name
	Line   int    // the line the logical line starts on
	Reason string // Postfix's wording: "missing '=' after attribute name"
	Text   string // the logical line
}

// Error returns Postfix's message: `main.cf, line 3: missing '=' after
// attribute name: "text"`.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s, line %d: %s: %q", e.File, e.Line, e.Reason, e.Text)
}

func (f *File) name() string {
	if f.Name == "" {
		return "main.cf"
	}
	return f.Name
}

// warnf records a warning once: expansion runs at every read.
func (f *File) warnf(format string, args ...any) {
	w := fmt.Sprintf(format, args...)
	if !slices.Contains(f.warnings, w) {
		f.warnings = append(f.warnings, w)
	}
}

// parseLine splits "name = value" as Postfix's split_nameval does: the
// name is everything before the first blank or '=' (Postfix accepts any
// other character in it: "smtp-amavis_time_limit", "my.list").
func (f *File) parseLine(line string, lineNo int) error {
	end := strings.IndexAny(line, blanks+"=")
	if end < 0 {
		end = len(line)
	}
	name, rest := line[:end], strings.TrimLeft(line[end:], blanks)
	switch {
	case name == "" && strings.HasPrefix(rest, "="):
		return &SyntaxError{File: f.name(), Line: lineNo, Reason: "missing attribute name", Text: line}
	case !strings.HasPrefix(rest, "="):
		return &SyntaxError{File: f.name(), Line: lineNo, Reason: "missing '=' after attribute name", Text: line}
	}
	f.set(name, strings.Trim(rest[1:], blanks), lineNo)
	return nil
}

// Set sets a parameter as a main.cf line would (as "postconf -o" does). A
// later Set of the same name wins, as a later line in main.cf does.
func (f *File) Set(name, value string) { f.set(name, value, 0) }

func (f *File) set(name, value string, line int) {
	if f.values == nil {
		f.values = make(map[string]string)
		f.lines = make(map[string]int)
	}
	if _, ok := f.values[name]; !ok {
		f.order = append(f.order, name)
	}
	f.values[name] = value
	f.lines[name] = line
}

// Raw returns the value a parameter is set to in the file, unexpanded,
// and whether it is set.
func (f *File) Raw(name string) (string, bool) {
	v, ok := f.values[name]
	return v, ok
}

// IsSet reports whether the file sets the parameter.
func (f *File) IsSet(name string) bool {
	_, ok := f.values[name]
	return ok
}

// Line returns the line a parameter is set on; 0 when it is not set or
// was set with Set.
func (f *File) Line(name string) int { return f.lines[name] }

// Names returns the parameters set in the file, in file order.
func (f *File) Names() []string { return slices.Clone(f.order) }

// Warnings returns the parse and expansion warnings seen so far, worded as
// Postfix words them.
func (f *File) Warnings() []string { return slices.Clone(f.warnings) }
