package relay

import (
	"context"
	"fmt"

	"github.com/mxrelay/mxrelay/lookup"
)

// commandFilter reads smtpd_command_filter: the tables (regexp: and
// pcre: in practice) whose value replaces a client's command line. Nil
// when it is empty.
func commandFilter(r *reader, open func(string) (lookup.Table, error)) (func(context.Context, string) (string, bool, error), error) {
	specs := r.list("smtpd_command_filter")
	if len(specs) == 0 {
		return nil, nil
	}
	var tables []lookup.Table
	for _, spec := range specs {
		t, err := open(spec)
		if err != nil {
			return nil, fmt.Errorf("relay: smtpd_command_filter: %w", err)
		}
		tables = append(tables, t)
	}
	return func(ctx context.Context, line string) (string, bool, error) {
		for _, t := range tables {
			v, ok, err := t.Lookup(ctx, line)
			if err != nil || ok {
				return v, ok, err
			}
		}
		return "", false, nil
	}, nil
}
