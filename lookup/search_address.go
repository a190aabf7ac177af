package lookup

import "context"

// IsPattern reports whether t is a pattern table (regexp:, pcre:,
// cidr:, socketmap:, tcp:: Postfix's DICT_FLAG_PATTERN), which Postfix
// asks only for the complete address in an address search
// (mail_addr_find.c), never for the derived keys.
func IsPattern(t Table) bool {
	switch t.(type) {
	case RegexpTable, PCRETable, CIDRTable, *SocketmapTable, *TCPTable:
		return true
	}
	return false
}

// SearchAddress is Search over keys derived from one address (for
// example AppendRecipientKeys), as Postfix's mail_addr_find: pattern
// tables (IsPattern) are asked only the KeyAddress keys, other tables
// every key, key-major.
func SearchAddress(ctx context.Context, tables []Table, keys []Key) (Result, bool, error) {
	for _, k := range keys {
		for i, t := range tables {
			if k.Kind != KeyAddress && IsPattern(t) {
				continue
			}
			r, found, err := Search(ctx, tables[i:i+1], []Key{k})
			if found || err != nil {
				r.Table = i
				return r, found, err
			}
		}
	}
	return Result{}, false, nil
}
