package maincf

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// Kind sorts a parameter that main.cf sets.
type Kind int

// The kinds of parameters, as "mxrelayd -check" reports them.
const (
	// Used: mxrelay reads it (or a parameter it reads refers to it with
	// $name, or it defines a restriction class).
	Used Kind = iota + 1
	// Ignored: Postfix knows it, and mxrelay can run without it: it
	// concerns what a relay does not do (local delivery, biff, the
	// Postfix daemons' own tuning).
	Ignored
	// Unimplemented: it turns on a Postfix feature that changes how mail
	// flows and that mxrelay does not implement. mxrelay refuses to run
	// with it unless told to accept that it is not honoured.
	Unimplemented
	// Unknown: Postfix does not know it either ("unused parameter"): a
	// typo, or a parameter of a master.cf service that does not exist.
	Unknown
)

// String returns the kind as -check prints it.
func (k Kind) String() string {
	switch k {
	case Used:
		return "used"
	case Ignored:
		return "ignored"
	case Unimplemented:
		return "not implemented"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Param is a parameter main.cf sets, sorted into its Kind.
type Param struct {
	Name  string
	Value string // expanded
	Line  int    // where main.cf sets it; 0 for File.Set
	Kind  Kind
	// User is the part of mxrelay that reads a Used parameter.
	User User
	// Reason says why an Unimplemented parameter is refused.
	Reason string
	// Suggestion is the nearest parameter Postfix knows, for an Unknown
	// one ("relay_domains" for "relay_domain"); "" when none is close.
	Suggestion string
}

// String formats the parameter as -check prints it.
func (p Param) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s = %s", p.Name, p.Value)
	switch p.Kind {
	case Used:
		fmt.Fprintf(&b, " (used by %s)", p.User)
	case Unimplemented:
		fmt.Fprintf(&b, ": %s", p.Reason)
	case Unknown:
		b.WriteString(": unused parameter: Postfix does not know it")
		if p.Suggestion != "" {
			fmt.Fprintf(&b, " (did you mean %s?)", p.Suggestion)
		}
	}
	return b.String()
}

// Classify sorts every parameter the file sets into its Kind, in file
// order.
func (f *File) Classify() []Param {
	refs := f.referenced()
	out := make([]Param, 0, len(f.order))
	for _, name := range f.order {
		p := Param{Name: name, Line: f.lines[name]}
		p.Value = f.expandQuiet(name)
		switch user, isUsed := UsedBy(name); {
		case f.activeGap(name, p.Value) != "":
			p.Kind, p.Reason = Unimplemented, f.activeGap(name, p.Value)
		case isUsed:
			p.Kind, p.User = Used, user
		case f.transportLimit(name) != "":
			p.Kind, p.User = Used, f.transportLimit(name)
		case refs[name] != "":
			p.Kind, p.User = Used, refs[name]
		case f.known(name) || f.referencedByAny(name) || f.masterRefs[name] || f.tableParam(name):
			p.Kind = Ignored
		default:
			p.Kind, p.Suggestion = Unknown, f.suggest(name)
		}
		out = append(out, p)
	}
	return out
}

// expandQuiet expands a parameter without recording it as read and
// without warnings: Postfix expands some parameters only in the daemon
// that uses them (mailbox_command's $EXTENSION is local(8)'s).
func (f *File) expandQuiet(name string) string {
	raw, ok := f.values[name]
	if !ok {
		raw, _ = f.defaultValue(name)
	}
	e := expander{f: f, active: map[string]bool{name: true}, quiet: true}
	return e.expand(raw, 0)
}

// referenced returns the parameters that used parameters refer to with
// $name, directly or through others, and the restriction classes, each
// with the part of mxrelay that reads them.
func (f *File) referenced() map[string]User {
	out := make(map[string]User)
	var visit func(name string, user User)
	visit = func(name string, user User) {
		if out[name] != "" {
			return
		}
		out[name] = user
		if rawParams[name] {
			return // its $names are not parameters
		}
		v, ok := f.values[name]
		if !ok && !unreadDefaults[name] {
			v, _ = f.defaultValue(name)
		}
		for _, ref := range paramRefs(v) {
			visit(ref, user)
		}
	}
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		visit(n, used[n])
	}
	for _, class := range lookup.SplitList(f.expandQuiet("smtpd_restriction_classes")) {
		visit(class, UserPolicy)
	}
	return out
}

// referencedByAny reports whether any parameter the file sets refers to
// name with $name: Postfix does not report such a parameter as unused.
func (f *File) referencedByAny(name string) bool {
	for _, n := range f.order {
		if n != name && slices.Contains(paramRefs(f.values[n]), name) {
			return true
		}
	}
	return false
}

// unreadDefaults are used parameters whose Postfix default mxrelay never
// reads: local_recipient_maps is read only when main.cf sets it (its
// default names the local passwd file and $alias_maps, for local
// delivery, which a relay does not do).
var unreadDefaults = map[string]bool{"local_recipient_maps": true}

// UnimplementedError refuses a main.cf whose Unimplemented parameters
// were not accepted.
type UnimplementedError struct {
	File   string  // the main.cf name
	Params []Param // the parameters refused, in file order
}

// Error names every parameter refused and why.
func (e *UnimplementedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d parameter(s) turn on Postfix features that mxrelay does not implement; mail would not flow as Postfix lets it:", e.File, len(e.Params))
	for _, p := range e.Params {
		fmt.Fprintf(&b, "\n  line %d: %s", p.Line, p)
	}
	b.WriteString("\nremove them, or accept that they are not honoured by naming them (mxrelayd -accept-unimplemented=NAME,...; relay.LoadOptions.AcceptUnimplemented)")
	return b.String()
}

// Refuse returns an *UnimplementedError for the Unimplemented parameters
// in params whose names are not in accepted ("all" accepts every one),
// or nil.
func (f *File) Refuse(params []Param, accepted []string) error {
	var refused []Param
	for _, p := range params {
		if p.Kind == Unimplemented && !slices.Contains(accepted, p.Name) && !slices.Contains(accepted, "all") {
			refused = append(refused, p)
		}
	}
	if refused == nil {
		return nil
	}
	return &UnimplementedError{File: f.name(), Params: refused}
}

// dbmsTypes are the table types whose legacy configuration can live in
// main.cf: "ldap:foo" reads foo_server_host, foo_search_base... (Postfix's
// postconf_dbms.c).
var dbmsTypes = []string{"ldap", "mysql", "pgsql", "sqlite", "memcache"}

// tableParam reports whether name configures a table named in main.cf as
// "TYPE:prefix" with a dbms type and a name that is not a file:
// prefix_server_host for ldap:prefix.
func (f *File) tableParam(name string) bool {
	for _, n := range f.order {
		for _, tok := range lookup.SplitList(f.values[n]) {
			tok = strings.TrimPrefix(tok, "proxy:")
			typ, prefix, ok := strings.Cut(tok, ":")
			if !ok || prefix == "" || strings.Contains(prefix, "/") || !slices.Contains(dbmsTypes, typ) {
				continue
			}
			if strings.HasPrefix(name, prefix+"_") {
				return true
			}
		}
	}
	return false
}
