package ldap

import (
	"fmt"
	"net/url"
	"strings"

	ldap "github.com/go-ldap/ldap/v3"
)

// ldapURL is what an LDAP URL (RFC 4516) asks: the host part is not
// used, the search runs on the table's connection, as in Postfix.
type ldapURL struct {
	dn     string
	attrs  []string
	scope  int
	filter string
}

func isLDAPURL(v string) bool {
	l := strings.ToLower(v)
	return strings.HasPrefix(l, "ldap://") || strings.HasPrefix(l, "ldaps://") || strings.HasPrefix(l, "ldapi://")
}

// parseLDAPURL reads scheme://host/dn?attrs?scope?filter; the scope is
// base and the filter (objectClass=*) when not given.
func parseLDAPURL(v string) (ldapURL, error) {
	u := ldapURL{scope: ldap.ScopeBaseObject, filter: "(objectClass=*)"}
	_, rest, _ := strings.Cut(v, "://")
	_, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return u, nil // no DN: the root
	}
	parts := strings.SplitN(rest, "?", 5)
	get := func(i int) (string, error) {
		if i >= len(parts) {
			return "", nil
		}
		return url.PathUnescape(parts[i])
	}
	var err error
	if u.dn, err = get(0); err != nil {
		return u, err
	}
	a, err := get(1)
	if err != nil {
		return u, err
	}
	for _, x := range strings.Split(a, ",") {
		if x = strings.TrimSpace(x); x != "" {
			u.attrs = append(u.attrs, x)
		}
	}
	sc, err := get(2)
	if err != nil {
		return u, err
	}
	switch strings.ToLower(sc) {
	case "", "base":
	case "one":
		u.scope = ldap.ScopeSingleLevel
	case "sub":
		u.scope = ldap.ScopeWholeSubtree
	default:
		return u, fmt.Errorf("bad scope %q", sc)
	}
	f, err := get(3)
	if err != nil {
		return u, err
	}
	if f != "" {
		if !strings.HasPrefix(f, "(") {
			f = "(" + f + ")"
		}
		u.filter = f
	}
	return u, nil
}
