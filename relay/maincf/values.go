package maincf

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mxrelay/mxrelay/lookup"
)

// Lookup returns the expanded value of a parameter: the file's value, else
// Postfix's default. ok is false for a parameter that the file does not
// set and Postfix does not know.
func (f *File) Lookup(name string) (value string, ok bool) {
	f.consult(name)
	raw, ok := f.values[name]
	if !ok {
		raw, ok = f.defaultValue(name)
		if !ok {
			return "", false
		}
	}
	if rawParams[name] {
		return raw, true
	}
	e := expander{f: f, active: map[string]bool{name: true}}
	return e.expand(raw, 0), true
}

// consult records that a parameter was read (see Consulted).
func (f *File) consult(name string) {
	if f.read == nil {
		f.read = make(map[string]bool)
	}
	f.read[name] = true
}

// Consulted returns the parameters read so far with Lookup and the typed
// readers, sorted: the registry test uses it to check that everything a
// package reads is registered as used.
func (f *File) Consulted() []string {
	out := make([]string, 0, len(f.read))
	for n := range f.read {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Get returns the expanded value of a parameter, "" when it is unknown and
// unset.
func (f *File) Get(name string) string {
	v, _ := f.Lookup(name)
	return v
}

// Bool returns a yes/no parameter. As Postfix's mail_conf_bool, "yes" and
// "no" in any case are the only values; anything else is an error
// ("bad boolean configuration").
func (f *File) Bool(name string) (bool, error) {
	v := f.Get(name)
	b, err := ParseBool(v)
	if err != nil {
		return false, &ValueError{Param: name, Value: v, Reason: "bad boolean configuration (yes or no)"}
	}
	return b, nil
}

// ParseBool parses a Postfix boolean: "yes" or "no", in any case.
func ParseBool(v string) (bool, error) {
	switch {
	case strings.EqualFold(v, "yes"):
		return true, nil
	case strings.EqualFold(v, "no"):
		return false, nil
	}
	return false, fmt.Errorf("bad boolean %q: expected yes or no", v)
}

// Int returns an integer parameter (smtpd_recipient_limit,
// message_size_limit). As Postfix's mail_conf_int and mail_conf_long,
// anything but a decimal number is an error ("bad numerical
// configuration").
func (f *File) Int(name string) (int64, error) {
	v := f.Get(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, &ValueError{Param: name, Value: v, Reason: "bad numerical configuration"}
	}
	return n, nil
}

// Duration returns a time parameter: a number with an optional unit s, m,
// h, d or w. A bare number takes the unit of the parameter's Postfix
// default, as Postfix's mail_conf_time does ("maximal_queue_lifetime =
// 7" is 7 days because its default is "5d").
func (f *File) Duration(name string) (time.Duration, error) {
	v := f.Get(name)
	d, err := lookup.ParseTime(v, f.timeUnit(name))
	if err != nil {
		return 0, &ValueError{Param: name, Value: v, Reason: err.Error()}
	}
	return d, nil
}

// timeUnit is the unit of a bare number for a time parameter: the last
// character of its default ("5d", "${stress?{10}:{300}}s"), else 's'.
func (f *File) timeUnit(name string) byte {
	def, _ := f.defaultValue(name)
	if def != "" {
		switch u := def[len(def)-1]; u {
		case 's', 'm', 'h', 'd', 'w':
			return u
		}
	}
	return 's'
}

// List returns a list parameter split at commas and white space. A
// "{...}" group stays one element, braces included, as Postfix's mystrtokq
// keeps it.
func (f *File) List(name string) []string { return lookup.SplitList(f.Get(name)) }

// Origin returns myorigin. As Debian's Postfix does (the package's
// mail_params.c patch behind Debian's "myorigin = /etc/mailname"), a value
// that starts with "/" names a file whose first line is the origin; a
// file that cannot be read or is empty is an error, as Postfix refuses to
// start.
func (f *File) Origin() (string, error) {
	v := f.Get("myorigin")
	if !strings.HasPrefix(v, "/") {
		return v, nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return "", &ValueError{Param: "myorigin", Value: v, Reason: err.Error()}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.Trim(line, blanks)
	if line == "" {
		return "", &ValueError{Param: "myorigin", Value: v, Reason: fmt.Sprintf("myorigin file %s is empty", v)}
	}
	return line, nil
}

// ValueError is a parameter whose value cannot be used.
type ValueError struct {
	Param  string // the parameter name: "message_size_limit"
	Value  string // its expanded value
	Reason string // what is wrong with it
}

// Error returns "bad parameter value: name = value: reason".
func (e *ValueError) Error() string {
	return fmt.Sprintf("bad parameter value: %s = %s: %s", e.Param, e.Value, e.Reason)
}
