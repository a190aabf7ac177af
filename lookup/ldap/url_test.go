package ldap

import (
	"strings"
	"testing"

	ldap "github.com/go-ldap/ldap/v3"
)

func TestParseLDAPURL(t *testing.T) {
	u, err := parseLDAPURL("ldap://ignored.example/ou=a%2Cb,dc=example,dc=com?mail,cn?sub?uid=x*")
	if err != nil || u.dn != "ou=a,b,dc=example,dc=com" || strings.Join(u.attrs, ",") != "mail,cn" || u.scope != ldap.ScopeWholeSubtree || u.filter != "(uid=x*)" {
		t.Errorf("parseLDAPURL = %+v, %v", u, err)
	}
	u, err = parseLDAPURL("ldap:///cn=x,dc=example,dc=com")
	if err != nil || u.dn != "cn=x,dc=example,dc=com" || u.attrs != nil || u.scope != ldap.ScopeBaseObject || u.filter != "(objectClass=*)" {
		t.Errorf("parseLDAPURL (defaults) = %+v, %v", u, err)
	}
	if _, err := parseLDAPURL("ldap:///dc=x?a?everything"); err == nil {
		t.Error("a bad scope was accepted")
	}
}

// FuzzParseLDAPURL: a special result attribute's value comes from the
// directory; parsing it never panics, and what it accepts has a known
// scope and a parenthesised filter.
func FuzzParseLDAPURL(f *testing.F) {
	for _, s := range []string{"ldap:///dc=example,dc=com??sub?(uid=a)", "ldap://h/x?a,b", "ldaps://", "ldap:///%zz", "ldap:///a?b?c?d?e?f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		u, err := parseLDAPURL(v)
		if err != nil {
			return
		}
		if u.scope != ldap.ScopeBaseObject && u.scope != ldap.ScopeSingleLevel && u.scope != ldap.ScopeWholeSubtree {
			t.Fatalf("%q: scope %d", v, u.scope)
		}
		if !strings.HasPrefix(u.filter, "(") {
			t.Fatalf("%q: filter %q", v, u.filter)
		}
		for _, a := range u.attrs {
			if a == "" || strings.Contains(a, ",") {
				t.Fatalf("%q: attribute %q", v, a)
			}
		}
	})
}
