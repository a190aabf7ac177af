package dbcommon

import (
	"context"
	"fmt"
	"strings"

	"github.com/mxrelay/mxrelay/internal/regfile"
	"github.com/mxrelay/mxrelay/lookup"
)

// Domains is the "domain" setting of a database table: only keys whose
// domain is on the list are looked up (db_common.c's check_domain). It is
// a Postfix string list: names (matched whole, case-insensitively),
// /file/name (its names), type:table (the domain is looked up) and
// !negations; the first that matches decides. A nil *Domains lets every
// key through.
type Domains struct {
	items []domainItem
}

type domainItem struct {
	negate bool
	name   string
	table  lookup.Table
}

// ParseDomains reads a "domain" value; "" is nil (no filter).
func ParseDomains(ctx context.Context, value string, o *lookup.OpenOptions) (*Domains, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	d := &Domains{}
	if err := d.parse(ctx, value, o, 0); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Domains) parse(ctx context.Context, value string, o *lookup.OpenOptions, depth int) error {
	if depth > 10 {
		return fmt.Errorf("domain: files nested too deeply")
	}
	for _, tok := range lookup.SplitList(value) {
		it := domainItem{}
		if strings.HasPrefix(tok, "!") {
			it.negate, tok = true, tok[1:]
		}
		switch {
		case tok == "":
			return fmt.Errorf("domain: bad pattern %q", "!")
		case tok[0] == '/' && !it.negate:
			data, err := regfile.ReadFile(tok)
			if err != nil {
				return fmt.Errorf("domain: open file %s: %w", tok, err)
			}
			var names []string
			for _, line := range strings.Split(string(data), "\n") {
				if t := strings.TrimSpace(line); t != "" && t[0] != '#' {
					names = append(names, t)
				}
			}
			if err := d.parse(ctx, strings.Join(names, " "), o, depth+1); err != nil {
				return err
			}
			continue
		case strings.Contains(tok, ":"):
			t, err := lookup.Open(ctx, tok, o)
			if err != nil {
				return err
			}
			it.table = t
		default:
			it.name = tok
		}
		d.items = append(d.items, it)
	}
	return nil
}

// Allows reports whether key may be looked up: its domain (after the last
// '@') must be on the list. A key without '@', or with nothing before it
// ("@example.com"), is never looked up when there is a list, as in
// Postfix.
func (d *Domains) Allows(ctx context.Context, key string) (bool, error) {
	if d == nil {
		return true, nil
	}
	i := strings.LastIndexByte(key, '@')
	if i <= 0 {
		return false, nil
	}
	domain := key[i+1:]
	for _, it := range d.items {
		match := strings.EqualFold(domain, it.name)
		if it.table != nil {
			_, found, err := it.table.Lookup(ctx, domain)
			if err != nil {
				return false, err
			}
			match = found
		}
		if match {
			return !it.negate, nil
		}
	}
	return false, nil
}
