package cleanup

import (
	"context"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// VirtualAlias expands one recipient by virtual_alias_maps, as Postfix's
// cleanup_map1n.c: each address a table gives is looked up again, up to
// RecursionLimit times, until no table knows it; an address that expands
// into itself (with others) is kept and not looked up again. Without a
// match the result is addr alone. queueID names the message in warnings.
//
// The expansion is refused (an *Error, 451 4.6.0 "Alias expansion
// error", and a warning in the log) when it grows beyond ExpansionLimit
// addresses, nests deeper than RecursionLimit, gives an address longer
// than AddressLengthLimit, or a table fails.
func (cl *Cleanup) VirtualAlias(ctx context.Context, queueID, addr string) ([]string, error) {
	if len(cl.virtual) == 0 {
		return []string{addr}, nil
	}
	out := []string{addr}
	var selfs map[string]bool // addresses that expanded into themselves, folded
	for i := 0; i < len(out); i++ {
		if len(out) > cl.c.ExpansionLimit {
			return nil, cl.refuse(queueID, "unreasonable virtual_alias_maps map expansion size for "+addr, nil)
		}
		for count := 0; ; count++ {
			if selfs[lookup.FoldKey(out[i])] {
				break
			}
			if count >= cl.c.RecursionLimit {
				return nil, cl.refuse(queueID, "unreasonable virtual_alias_maps map nesting for "+addr, nil)
			}
			res, err := cl.mapAddress(ctx, cl.virtual, "virtual_alias_maps", out[i], cl.c.PropagateVirtual)
			if err != nil {
				return nil, cl.refuse(queueID, "virtual_alias_maps map lookup problem for "+addr, err)
			}
			if res == nil {
				break
			}
			lhs := out[i]
			for j, a := range res {
				if len(a) > cl.c.AddressLengthLimit {
					return nil, cl.refuse(queueID, "unreasonable virtual_alias_maps result "+clip(a, 300)+"...", nil)
				}
				if j == 0 {
					out[i] = a
				} else {
					out = append(out, a)
				}
				if strings.EqualFold(lhs, a) {
					if selfs == nil {
						selfs = make(map[string]bool)
					}
					selfs[lookup.FoldKey(lhs)] = true
				}
			}
		}
	}
	return out, nil
}

// mapAddress is Postfix's mail_addr_map for one address: the recipient
// keys in mail_addr_find's order; a value "@domain" keeps the localpart
// (without an unmatched extension); the value is split into addresses,
// each completed with @MyOrigin when it has no domain, and given the
// unmatched extension when propagate is set. Nil, nil: no table knows
// addr. param names the tables in errors.
func (cl *Cleanup) mapAddress(ctx context.Context, tables []lookup.Table, param, addr string, propagate bool) ([]string, error) {
	local, _ := lookup.SplitAddress(addr)
	o, err := cl.keyOptions(ctx, addr)
	if err != nil {
		return nil, err
	}
	var kb [12]lookup.Key
	res, found, err := lookup.SearchAddress(ctx, tables, lookup.AppendRecipientKeys(kb[:0], addr, o))
	if err != nil || !found {
		return nil, err
	}
	ext := ""
	switch res.Key.Kind {
	case lookup.KeyBaseAddress, lookup.KeyBaseLocalpart:
		_, ext = lookup.SplitExtension(local, cl.c.Keys.Delimiters, cl.c.Keys.SplitOwnerRequest)
	}
	value := res.Value
	if strings.HasPrefix(value, "@") {
		value = strings.TrimSuffix(local, ext) + value
		ext = ""
	}
	if !propagate {
		ext = ""
	}
	addrs := SplitAddresses(value)
	if len(addrs) == 0 {
		return nil, &lookup.Error{Table: param, Key: res.Key.Key, Kind: lookup.Temporary,
			Err: errNonAddress(res.Value)}
	}
	for i, a := range addrs {
		l, d := lookup.SplitAddress(a)
		if len(l) == len(a) { // no domain: append_at_myorigin
			d = cl.c.MyOrigin
		}
		if d == "" && len(l) == len(a) {
			addrs[i] = l + ext
		} else {
			addrs[i] = l + ext + "@" + d
		}
	}
	return addrs, nil
}

// keyOptions are the key options of mail_addr_find for addr: bare
// localpart keys when its domain is local (Config.LocalDomain).
func (cl *Cleanup) keyOptions(ctx context.Context, addr string) (lookup.KeyOptions, error) {
	o := cl.c.Keys
	o.LocalDomain = nil
	local, domain := lookup.SplitAddress(addr)
	if cl.c.LocalDomain != nil && len(local) < len(addr) {
		isLocal, err := cl.c.LocalDomain(ctx, domain)
		if err != nil {
			return o, err
		}
		if isLocal {
			o.LocalDomain = func(string) bool { return true }
		}
	}
	return o, nil
}

// clip cuts s to at most n bytes, for log lines.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
