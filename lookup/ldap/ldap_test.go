package ldap

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/mxrelay/mxrelay/internal/testenv"
	"github.com/mxrelay/mxrelay/lookup/internal/dbtest"
)

// The OpenLDAP server of the tests: .ci/run starts one and exports its
// URL in MXRELAY_TEST_LDAP, with the suffix and administrator below.
const (
	suffix  = "dc=example,dc=com"
	adminDN = "cn=admin,dc=example,dc=com"
	adminPW = "admin-secret"
)

type testServer struct {
	url  string
	base string // the subtree of this test
}

// testDirectory adds a subtree of its own to the server, with an entry
// per row of the users every database table type is tested on (uid is
// the address, description the target; NULL and empty targets have no
// description), under ou=DOMAIN for the dynamic search base tests too,
// and removes it at the end.
func testDirectory(t testing.TB) testServer {
	t.Helper()
	u := dbtest.Server(t, "MXRELAY_TEST_LDAP", "OpenLDAP")
	conn, err := ldap.DialURL(u)
	if err != nil {
		t.Fatalf("LDAP server at %s: %v", u, err)
	}
	defer conn.Close()
	if err := conn.Bind(adminDN, adminPW); err != nil {
		t.Fatal(err)
	}
	// The suffix entry, made by the first test that needs it.
	top := ldap.NewAddRequest(suffix, nil)
	top.Attribute("objectClass", []string{"dcObject", "organization"})
	top.Attribute("dc", []string{"example"})
	top.Attribute("o", []string{"mxrelay tests"})
	if err := conn.Add(top); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
		t.Fatalf("add %s: %v", suffix, err)
	}
	s := testServer{url: u, base: fmt.Sprintf("ou=t%d,%s", rand.Uint32(), suffix)}
	var dns []string
	add := func(dn string, attrs map[string][]string) {
		r := ldap.NewAddRequest(dn, nil)
		for k, v := range attrs {
			r.Attribute(k, v)
		}
		if err := conn.Add(r); err != nil {
			t.Fatalf("add %s: %v", dn, err)
		}
		dns = append(dns, dn)
	}
	add(s.base, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {strings.TrimPrefix(strings.Split(s.base, ",")[0], "ou=")}})
	domains := map[string]bool{}
	for i, row := range dbtest.Users {
		d := "nodomain"
		if at := strings.LastIndexByte(row.Address, '@'); at >= 0 {
			d = row.Address[at+1:]
		}
		ou := "ou=" + ldap.EscapeDN(d) + "," + s.base
		if !domains[d] {
			domains[d] = true
			add(ou, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {d}})
		}
		attrs := map[string][]string{"objectClass": {"inetOrgPerson"}, "cn": {fmt.Sprintf("user%d", i)}, "sn": {"test"}, "uid": {row.Address}}
		if row.Target != "" {
			attrs["description"] = []string{row.Target}
		}
		add(fmt.Sprintf("cn=user%d,%s", i, ou), attrs)
	}
	// Groups for special_result_attribute: members by DN (seeAlso, one
	// of them missing), by LDAP URL (labeledURI), and a group of groups.
	ex := "ou=example.com," + s.base
	add("cn=sales,"+ex, map[string][]string{"objectClass": {"inetOrgPerson"}, "cn": {"sales"}, "sn": {"group"},
		"uid": {"sales@example.com"}, "description": {"sales-list"},
		"seeAlso": {"cn=user0," + ex, "cn=user1," + ex, "cn=nosuch," + ex}})
	add("cn=byurl,"+ex, map[string][]string{"objectClass": {"inetOrgPerson"}, "cn": {"byurl"}, "sn": {"group"},
		"uid":        {"byurl@example.com"},
		"labeledURI": {"ldap:///" + ex + "?description?one?(uid=m*)", "ldap:///" + ex + "?cn?one?(uid=bob*)"}})
	add("cn=all,"+ex, map[string][]string{"objectClass": {"inetOrgPerson"}, "cn": {"all"}, "sn": {"group"},
		"uid": {"all@example.com"}, "seeAlso": {"cn=sales," + ex, "cn=byurl," + ex}})
	t.Cleanup(func() {
		c, err := ldap.DialURL(u)
		if err != nil {
			return
		}
		defer c.Close()
		c.Bind(adminDN, adminPW)
		for i := len(dns) - 1; i >= 0; i-- {
			c.Del(ldap.NewDelRequest(dns[i], nil))
		}
	})
	return s
}

// cf writes an ldap_table(5) file for the server with the given lines.
func (s testServer) cf(t testing.TB, name string, lines ...string) string {
	pu, _ := url.Parse(s.url)
	conn := []string{"server_host = " + pu.Host, "version = 3", "search_base = " + s.base, "bind = no"}
	var keep []string
	for _, c := range conn {
		k, _, _ := strings.Cut(c, " =")
		if !strings.HasPrefix(strings.Join(lines, "\n"), k+" =") && !strings.Contains(strings.Join(lines, "\n"), "\n"+k+" =") {
			keep = append(keep, c)
		}
	}
	return dbtest.WriteCF(t, name, keep, lines...)
}

// TestAgainstPostmap asks postmap -q (Debian's postfix-ldap) and our
// ldap: tables the same keys on the same ldap_table(5) files and the same
// OpenLDAP server, and wants the same answers.
func TestAgainstPostmap(t *testing.T) {
	s := testDirectory(t)
	dead := dbtest.DeadAddr(t)
	files := map[string][]string{
		"users.cf":     {"query_filter = (uid=%s)", "result_attribute = description"},
		"two.cf":       {"query_filter = (uid=%s)", "result_attribute = description, cn"},
		"parts.cf":     {"query_filter = (|(uid=%s)(uid=%u@%d))", "result_attribute = description", "result_format = <%s> %u at %d for %U@%D"},
		"labels.cf":    {"query_filter = (uid=*@%2.%1)", "result_attribute = cn"},
		"dynbase.cf":   {"search_base = ou=%d," + s.base, "query_filter = (uid=%s)", "result_attribute = description"},
		"onelevel.cf":  {"scope = one", "query_filter = (uid=%s)", "result_attribute = description"},
		"limit.cf":     {"query_filter = (uid=%s)", "result_attribute = description, cn", "expansion_limit = 1"},
		"size.cf":      {"query_filter = (uid=*%d)", "result_attribute = cn", "size_limit = 2"},
		"domain.cf":    {"query_filter = (uid=%s)", "result_attribute = description", "domain = example.com, !blocked.example.com"},
		"bind.cf":      {"bind = yes", "bind_dn = " + adminDN, "bind_pw = " + adminPW, "query_filter = (uid=%s)", "result_attribute = description"},
		"badbind.cf":   {"bind = yes", "bind_dn = " + adminDN, "bind_pw = wrong", "query_filter = (uid=%s)", "result_attribute = description"},
		"nobase.cf":    {"search_base = ou=nosuch," + suffix, "query_filter = (uid=%s)", "result_attribute = description"},
		"special.cf":   {"query_filter = (uid=%s)", "result_attribute = description", "special_result_attribute = seeAlso, labeledURI"},
		"recursion.cf": {"query_filter = (uid=%s)", "result_attribute = description", "special_result_attribute = seeAlso, labeledURI", "recursion_limit = 2"},
		"failover.cf":  {"server_host = " + dead + ", " + strings.TrimPrefix(s.url, "ldap://"), "query_filter = (uid=%s)", "result_attribute = description"},
	}
	keys := append([]string{"b*@example.com", "(bob)@example.com", `back\slash@example.com`, "sales@example.com", "byurl@example.com", "all@example.com"}, dbtest.Keys...)
	cf := func(name string, lines ...string) string { return s.cf(t, name, lines...) }
	dbtest.DifferentialKeys(t, "ldap", Open, cf, files, keys, func(addr string) []string {
		return []string{"server_host = " + addr, "query_filter = (uid=%s)", "result_attribute = description"}
	})
}

// special_result_attribute follows DNs and LDAP URLs, depth first,
// skipping a DN that does not exist (the differential test compares the
// exact answer with postmap -q; here, what it is). The order of an
// entry's attributes is the server's, for Postfix as for us (OpenLDAP
// has returned seeAlso before description once in CI), so the values
// are compared as a set, and the followed DN's own results must stay
// together in their order.
func TestSpecialResultAttribute(t *testing.T) {
	s := testDirectory(t)
	tab := dbtest.Open(t, "ldap", Open, s.cf(t, "special.cf", "query_filter = (uid=%s)", "result_attribute = description", "special_result_attribute = seeAlso, labeledURI"))
	sorted := func(v string) string {
		parts := strings.Split(v, ",")
		slices.Sort(parts)
		return strings.Join(parts, ",")
	}
	for key, want := range map[string]string{
		"sales@example.com": "sales-list,bob@mailbox.example,a@x.example",
		"byurl@example.com": "a@x.example,b@x.example,plain",
		"all@example.com":   "sales-list,bob@mailbox.example,a@x.example,a@x.example,b@x.example,plain",
	} {
		v, _, err := tab.Lookup(context.Background(), key)
		if err != nil || sorted(v) != sorted(want) {
			t.Errorf("Lookup(%s) = %q, %v; want %q, in any attribute order", key, v, err, want)
		}
		if key != "byurl@example.com" && !strings.Contains(v, "bob@mailbox.example,a@x.example") {
			t.Errorf("Lookup(%s) = %q: the followed DN's results are not depth first", key, v)
		}
	}
}

// Non-ASCII keys and results, compared with postmap -q too.
func TestUTF8(t *testing.T) {
	postmap := testenv.NeedProgram(t, "postmap")
	s := testDirectory(t)
	p := s.cf(t, "users.cf", "query_filter = (uid=%s)", "result_attribute = description", "result_format = %s/%S")
	tab := dbtest.Open(t, "ldap", Open, p)
	v, found, err := tab.Lookup(context.Background(), "Jürgen@Exämple.com")
	if v != "unicode/jürgen@exämple.com" || !found || err != nil {
		t.Errorf("Lookup = %q, %v, %v; want the entry, found with the folded key", v, found, err)
	}
	dbtest.Compare(t, postmap, testenv.PostfixEnv(t), "ldap:"+p, tab, []string{"jürgen@exämple.com"})
}

// TLS as Postfix's ldap_table(5) sets it up (.ci/run: the server's CA in
// MXRELAY_TEST_LDAP_CA, its ldaps:// URL in MXRELAY_TEST_LDAPS), compared
// with postmap -q: StartTLS or ldaps:// with the CA and tls_require_cert
// connect, StartTLS without a CA connects unverified, a CA that did not
// sign the server's certificate fails (a Temporary error).
func TestTLS(t *testing.T) {
	ca := dbtest.Server(t, "MXRELAY_TEST_LDAP_CA", "OpenLDAP with TLS")
	ldaps := dbtest.Server(t, "MXRELAY_TEST_LDAPS", "OpenLDAP with ldaps://")
	s := testDirectory(t)
	other := dbtest.OtherCA(t)
	cf := func(name string, lines ...string) string { return s.cf(t, name, lines...) }
	q := []string{"query_filter = (uid=%s)", "result_attribute = description"}
	dbtest.DifferentialKeys(t, "ldap", Open, cf, map[string][]string{
		"starttls.cf":       append([]string{"start_tls = yes", "tls_ca_cert_file = " + ca, "tls_require_cert = yes"}, q...),
		"starttls-noca.cf":  append([]string{"start_tls = yes"}, q...),
		"starttls-wrong.cf": append([]string{"start_tls = yes", "tls_ca_cert_file = " + other, "tls_require_cert = yes"}, q...),
		"ldaps.cf":          append([]string{"server_host = " + ldaps, "tls_ca_cert_file = " + ca, "tls_require_cert = yes"}, q...),
	}, []string{"bob@example.com", "nobody@example.com"}, nil)
}

// A server that is down, or that accepts and never answers, is a
// Temporary error within the lookup bound, never "not found".
func TestDown(t *testing.T) {
	dbtest.CheckDown(t, "ldap", Open, func(addr string) string {
		return "server_host = " + addr + "\nsearch_base = dc=example,dc=com\nquery_filter = (uid=%s)\n"
	})
}

func TestOpenErrors(t *testing.T) {
	dbtest.OpenErrors(t, "ldap", Open, map[string]string{
		"terminal_result_attribute = member\n":                   "terminal_result_attribute is not supported",
		"bind = sasl\n":                                          "bind = sasl is not supported",
		"tls_cipher_suite = HIGH\n":                              "tls_cipher_suite is not supported",
		"start_tls = yes\ntls_ca_cert_file = /nonexistent.pem\n": "/nonexistent.pem",
		"scope = everything\n":                                   "scope = everything: want sub, one or base",
		"query_filter = (uid=%x)\n":                              "invalid query template",
		"server_host = http://example.com/\n":                    "not an LDAP URL",
		"dereference = 7\n":                                      "dereference = 7: want 0 to 3",
	})
}

func TestQuoting(t *testing.T) {
	if got := rfc2254(`a*(b)\c`); got != `a\2A\28b\29\5Cc` {
		t.Errorf("rfc2254 = %q", got)
	}
	if got := rfc2253(`a b,c+d"e#f;g<h>i\j`); got != `a\20b\2Cc\2Bd\22e\23f\3Bg\3Ch\3Ei\5Cj` {
		t.Errorf("rfc2253 = %q", got)
	}
}

// BenchmarkHit: a hit with a warm connection to the test server.
func BenchmarkHit(b *testing.B) {
	s := testDirectory(b)
	dbtest.BenchHit(b, "ldap", Open, s.cf(b, "users.cf", "query_filter = (uid=%s)", "result_attribute = description"), "bob@example.com")
}
