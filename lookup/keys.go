package lookup

import "strings"

// KeyKind says which derivation of an address or domain a Key is.
type KeyKind int

// The key kinds, in the order they appear in Postfix's searches.
const (
	KeyAddress         KeyKind = iota + 1 // user+ext@domain, the address as given
	KeyBaseAddress                        // user@domain, extension removed
	KeyDomain                             // domain
	KeyParent                             // a parent domain: "ex.com" (parent style) or ".ex.com" (dot style)
	KeyLocalpart                          // user+ext, only for local domains (recipient maps)
	KeyBaseLocalpart                      // user, only for local domains (recipient maps)
	KeyAtDomain                           // @domain (recipient maps)
	KeyLocalpartAt                        // user+ext@ (access maps)
	KeyBaseLocalpartAt                    // user@ (access maps)
	KeyWildcard                           // * (transport_maps)
)

var keyKindNames = [...]string{
	KeyAddress: "address", KeyBaseAddress: "address without extension", KeyDomain: "domain",
	KeyParent: "parent domain", KeyLocalpart: "localpart", KeyBaseLocalpart: "localpart without extension",
	KeyAtDomain: "@domain", KeyLocalpartAt: "localpart@", KeyBaseLocalpartAt: "localpart@ without extension",
	KeyWildcard: "wildcard",
}

// String names the kind, for logs.
func (k KeyKind) String() string {
	if k > 0 && int(k) < len(keyKindNames) {
		return keyKindNames[k]
	}
	return "unknown"
}

// Key is one lookup key derived from an address or a domain.
type Key struct {
	Key  string
	Kind KeyKind
}

// KeyOptions holds the Postfix parameters that shape key derivation. The zero
// value is Postfix's default for transport_maps: no extension split, dot-style
// parent matching, owner_request_special = yes, no local domains.
type KeyOptions struct {
	// Delimiters is recipient_delimiter: any of these characters separates a
	// localpart from its extension (see SplitExtension). Default empty, as
	// Postfix: no split.
	Delimiters string
	// SplitOwnerRequest splits owner-* and *-request localparts on '-' too
	// (owner_request_special = no). Default false, as Postfix
	// owner_request_special = yes.
	SplitOwnerRequest bool
	// ParentStyle is true when the feature is listed in
	// parent_domain_matches_subdomains: "ex.com" then matches its
	// subdomains and parents are looked up without a leading dot (see
	// AppendDomainKeys).
	// Postfix 3.7 lists relay_domains, mynetworks and smtpd_access_maps,
	// but not transport_maps. Default false (dot style).
	ParentStyle bool
	// LocalDomain reports whether a domain is $myorigin or local
	// (mydestination, [ip] of inet_interfaces/proxy_interfaces); for such
	// domains recipient keys include the bare localpart, as in Postfix's
	// mail_addr_find.c (see AppendRecipientKeys). Nil means no domain is
	// local.
	LocalDomain func(domain string) bool
}

// specialLocalparts are never split at a delimiter (Postfix's strip_addr.c).
var specialLocalparts = [...]string{"postmaster", "mailer-daemon", "double-bounce"}

// SplitExtension splits a localpart at the first recipient delimiter, as
// Postfix's strip_addr.c does with recipient_delimiter:
// "user+a+b" gives "user" and "+a+b". It does not split when delims is empty,
// when the localpart starts with a delimiter or has none, when it is
// postmaster, mailer-daemon or double-bounce, or (when delims has '-' and
// splitOwnerRequest is false) when it is owner-* or *-request.
func SplitExtension(local, delims string, splitOwnerRequest bool) (base, ext string) {
	if delims == "" || local == "" {
		return local, ""
	}
	for _, s := range specialLocalparts {
		if asciiEqualFold(local, s) {
			return local, ""
		}
	}
	if !splitOwnerRequest && strings.IndexByte(delims, '-') >= 0 {
		if len(local) >= 6 && asciiEqualFold(local[:6], "owner-") ||
			len(local) > 8 && asciiEqualFold(local[len(local)-8:], "-request") {
			return local, ""
		}
	}
	i := strings.IndexAny(local, delims)
	if i <= 0 {
		return local, ""
	}
	return local[:i], local[i:]
}

// asciiEqualFold is strcasecmp: ASCII letters only, so that "poſtmaster"
// (long s) is not postmaster, as in Postfix.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// SplitAddress splits an address at its last '@'. An address without '@'
// has an empty domain.
func SplitAddress(addr string) (local, domain string) {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[:i], addr[i+1:]
	}
	return addr, ""
}

// QuoteLocal returns the RFC 5322 external form of an internal (unquoted)
// localpart: unchanged when it is a dot-atom, otherwise wrapped in double
// quotes with '"', '\' and CR escaped, as Postfix's quote_822_local. Postfix
// looks up the external form first (mail_addr_find.c).
func QuoteLocal(local string) string {
	if isDotAtom(local) {
		return local
	}
	var b strings.Builder
	b.Grow(len(local) + 2)
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' || c == '\r' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String()
}

// UnquoteLocal returns the internal form of an external localpart, as
// Postfix's unquote_822_local: every double quote is removed and every
// backslash escape replaced by the character it escapes, wherever they are
// ("a b".c gives a b.c). A trailing lone backslash is dropped.
func UnquoteLocal(local string) string {
	if strings.IndexByte(local, '"') < 0 && strings.IndexByte(local, '\\') < 0 {
		return local
	}
	var b strings.Builder
	b.Grow(len(local))
	for i := 0; i < len(local); i++ {
		c := local[i]
		switch c {
		case '"':
			continue
		case '\\':
			if i+1 == len(local) {
				continue
			}
			i++
			c = local[i]
		}
		b.WriteByte(c)
	}
	return b.String()
}

// isAtext reports whether c may appear in an RFC 5322 atom. Bytes >= 0x80
// (UTF-8, RFC 6531) are allowed.
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c >= 0x80:
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if s[i-1] == '.' {
				return false
			}
			continue
		}
		if !isAtext(c) {
			return false
		}
	}
	return true
}

// AppendDomainKeys appends the keys for a domain and its parents, in the
// style parent_domain_matches_subdomains chooses:
// "a.b.ex.com", then "b.ex.com", "ex.com", "com" in parent style, or
// ".b.ex.com", ".ex.com", ".com" in dot style. One trailing dot is ignored.
// An address literal ("[1.2.3.4]") has no parents.
func AppendDomainKeys(dst []Key, domain string, parentStyle bool) []Key {
	domain = strings.TrimSuffix(domain, ".")
	if domain == "" {
		return dst
	}
	dst = append(dst, Key{domain, KeyDomain})
	if domain[0] == '[' {
		return dst
	}
	// Postfix's loop (transport.c, smtpd_check.c check_domain_access):
	// next = strchr(name + 1, '.'), one further in parent style.
	for name := 0; ; {
		j := strings.IndexByte(domain[name+1:], '.')
		if j < 0 {
			return dst
		}
		next := name + 1 + j
		if parentStyle {
			next++
		}
		if next >= len(domain) {
			return dst
		}
		dst = append(dst, Key{domain[next:], KeyParent})
		name = next
	}
}

// addr is an address split for key derivation.
type addr struct {
	local, domain string // internal (unquoted) localpart; domain without trailing dot
	base, ext     string // localpart split at the delimiter
	full          string // the address as given, when domain had no trailing dot
	hasAt         bool   // the address has a domain part
}

func splitForKeys(address string, o *KeyOptions) addr {
	local, domain := SplitAddress(address)
	a := addr{local: local, domain: domain, full: address, hasAt: len(local) < len(address)}
	if d := strings.TrimSuffix(domain, "."); d != domain {
		a.domain, a.full = d, ""
	}
	a.base, a.ext = SplitExtension(local, o.Delimiters, o.SplitOwnerRequest)
	return a
}

// appendLocal appends local+suffix in external form, then in internal form
// when that differs, as Postfix's mail_addr_find.c. suffix is "@domain",
// "@" or "".
func appendLocal(dst []Key, local, suffix, whole string, kind KeyKind) []Key {
	ext := QuoteLocal(local)
	if ext != local {
		dst = append(dst, Key{ext + suffix, kind})
	}
	if whole == "" {
		whole = local + suffix
	}
	return append(dst, Key{whole, kind})
}

// appendAddressKeys appends user+ext@domain and user@domain, the first two
// keys of the transport, access and recipient orders. An address without a
// domain gives no keys here.
func (a *addr) appendAddressKeys(dst []Key, atDomain string) []Key {
	if !a.hasAt {
		return dst
	}
	dst = appendLocal(dst, a.local, atDomain, a.full, KeyAddress)
	if a.ext != "" {
		dst = appendLocal(dst, a.base, atDomain, "", KeyBaseAddress)
	}
	return dst
}

func (a *addr) atDomain() string {
	if a.full != "" {
		return a.full[len(a.local):]
	}
	return "@" + a.domain
}

// AppendTransportKeys appends the transport_maps search keys for an address,
// as trivial-rewrite's transport.c and transport(5) order them:
// user+ext@domain, user@domain, domain, parent domains, then "*".
// There is no @domain and no user@ key. Postfix's parent style for
// transport_maps is off by default (o.ParentStyle false).
func AppendTransportKeys(dst []Key, address string, o KeyOptions) []Key {
	a := splitForKeys(address, &o)
	dst = a.appendAddressKeys(dst, a.atDomain())
	dst = AppendDomainKeys(dst, a.domain, o.ParentStyle)
	return append(dst, Key{"*", KeyWildcard})
}

// AppendAccessKeys appends the access(5) search keys used by
// check_recipient_access and check_sender_access, as smtpd_check.c and
// access(5) order them: user+ext@domain, user@domain, domain, parent
// domains, user+ext@, user@. There is no @domain key. smtpd_access_maps is
// in Postfix's default parent_domain_matches_subdomains, so callers
// normally set o.ParentStyle.
func AppendAccessKeys(dst []Key, address string, o KeyOptions) []Key {
	a := splitForKeys(address, &o)
	dst = a.appendAddressKeys(dst, a.atDomain())
	dst = AppendDomainKeys(dst, a.domain, o.ParentStyle)
	if !a.hasAt {
		// A bare localpart: look it up as itself.
		return appendLocal(dst, a.local, "", a.local, KeyLocalpart)
	}
	whole := ""
	if a.full != "" {
		whole = a.full[:len(a.local)+1]
	}
	dst = appendLocal(dst, a.local, "@", whole, KeyLocalpartAt)
	if a.ext != "" {
		dst = appendLocal(dst, a.base, "@", "", KeyBaseLocalpartAt)
	}
	return dst
}

// AppendRecipientKeys appends the search keys of relay_recipient_maps,
// virtual_alias_maps, local_recipient_maps and the other recipient maps
// (Postfix's mail_addr_find.c): user+ext@domain, user@domain, then for
// local domains user+ext and user, then @domain. There is no bare domain
// key and no parent domain.
func AppendRecipientKeys(dst []Key, address string, o KeyOptions) []Key {
	a := splitForKeys(address, &o)
	dst = a.appendAddressKeys(dst, a.atDomain())
	if !a.hasAt || o.LocalDomain != nil && o.LocalDomain(a.domain) {
		dst = appendLocal(dst, a.local, "", a.local, KeyLocalpart)
		if a.ext != "" {
			dst = appendLocal(dst, a.base, "", "", KeyBaseLocalpart)
		}
	}
	if a.hasAt && a.domain != "" {
		dst = append(dst, Key{a.atDomain(), KeyAtDomain})
	}
	return dst
}
