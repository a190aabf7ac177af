package relay

import (
	"strings"
	"time"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// reader reads typed parameters from a main.cf for the configuration
// builders, keeping the first error so that a builder reads on and
// reports it once.
type reader struct {
	cf    *maincf.File
	first error
}

func (r *reader) fail(err error) {
	if r.first == nil {
		r.first = err
	}
}

func (r *reader) err() error { return r.first }

func (r *reader) str(name string) string { return r.cf.Get(name) }

// tables reads a parameter that can name tables. A "proxy:" prefix of a
// table is dropped: tables are opened in-process, where Postfix's
// proxymap(8) has nothing to share. Only a token (or a table argument of
// a restriction) that starts with "proxy:" is changed, nothing inside
// inline tables or other text.
func (r *reader) tables(name string) string {
	v := r.cf.Get(name)
	if !strings.Contains(v, "proxy:") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); {
		atTokenStart := i == 0 || strings.IndexByte(" \t\r\n,{", v[i-1]) >= 0
		if atTokenStart && strings.HasPrefix(v[i:], "proxy:") {
			i += len("proxy:")
			continue
		}
		b.WriteByte(v[i])
		i++
	}
	return b.String()
}

func (r *reader) list(name string) []string { return r.cf.List(name) }

func (r *reader) bool(name string) bool {
	b, err := r.cf.Bool(name)
	r.fail(err)
	return b
}

func (r *reader) flag(name string) policy.Flag {
	if r.bool(name) {
		return policy.Yes
	}
	return policy.No
}

func (r *reader) int64(name string) int64 {
	n, err := r.cf.Int(name)
	r.fail(err)
	return n
}

// positive reads a limit that must be at least 1; Postfix refuses to
// start with a smaller one ("invalid ... parameter value").
func (r *reader) positive(name string) int {
	n := r.code(name)
	if n < 1 {
		r.fail(&maincf.ValueError{Param: name, Value: r.cf.Get(name), Reason: "must be at least 1"})
	}
	return n
}

// code reads an int parameter (reply codes, limits).
func (r *reader) code(name string) int { return int(r.int64(name)) }

// limit reads a size or count whose 0 means "no limit" in Postfix
// (message_size_limit), as -1.
func (r *reader) limit(name string) int64 {
	if n := r.int64(name); n != 0 {
		return n
	}
	return -1
}

func (r *reader) duration(name string) time.Duration {
	d, err := r.cf.Duration(name)
	r.fail(err)
	return d
}
