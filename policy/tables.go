package policy

import (
	"context"
	"maps"

	"github.com/mxrelay/mxrelay/lookup"
)

// buildOpenOptions makes the options every table is opened with: the
// caller's, plus the tables of Config.Tables under their specs.
func (p *Policy) buildOpenOptions() *lookup.OpenOptions {
	c := &p.cfg
	base := lookup.OpenOptions{Logger: c.Logger}
	if c.Open != nil {
		base = *c.Open
	}
	if len(c.Tables) == 0 {
		return &base
	}
	fallback := base
	types := make(map[string]lookup.OpenFunc, len(base.Types)+len(c.Tables))
	maps.Copy(types, base.Types)
	for spec := range c.Tables {
		typ, _, err := lookup.ParseSpec(spec)
		if err != nil {
			continue
		}
		types[typ] = func(ctx context.Context, name string, _ *lookup.OpenOptions) (lookup.Table, error) {
			if t, ok := c.Tables[typ+":"+name]; ok {
				return t, nil
			}
			return lookup.Open(ctx, typ+":"+name, &fallback)
		}
	}
	base.Types = types
	return &base
}

func (p *Policy) openTable(ctx context.Context, spec string) (lookup.Table, error) {
	return lookup.Open(ctx, spec, p.opts)
}
