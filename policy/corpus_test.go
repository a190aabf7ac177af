package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/relay"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// corpusRefused are the restriction names that policy still refuses in
// the real-world main.cf files of relay/maincf/testdata/corpus (SOURCES.md
// there), by file.
var corpusRefused = map[string]string{
	"danwin-clearnet-proxy.cf": "permit_tls_all_clientcerts",
	"grapheneos.cf":            "reject_plaintext_session",
}

// corpusTable matches a table in a restriction list.
var corpusTable = regexp.MustCompile(`(?:proxy:)?(?:hash|cdb|btree|lmdb|pcre|regexp|cidr|mysql|pgsql|ldap|texthash|sqlite|memcache|dbm|sdbm|nis|unix):[^\s,}]+`)

// TestCorpusRestrictions builds a Policy from the restriction lists of
// every main.cf of the corpus (their tables, absent here, replaced by
// static:DUNNO): each is accepted but for the names corpusRefused lists,
// which New must name. It shows what a user who brings such a file meets.
func TestCorpusRestrictions(t *testing.T) {
	files, err := filepath.Glob("../relay/maincf/testdata/corpus/*.cf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	fake := func(v string) string { return corpusTable.ReplaceAllString(v, "static:DUNNO") }
	for _, f := range files {
		name := filepath.Base(f)
		if strings.HasSuffix(name, ".master.cf") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := maincf.Parse(strings.NewReader(strings.ReplaceAll(string(b), "/etc/mailname", "example.net")), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pc, err := relay.PolicyConfig(cf)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c := policy.Config{MyHostname: "mx.example", InetInterfaces: "127.0.0.1", RelayDomains: "example.com",
			DNS: policy.DNSFunc(func(ctx context.Context, n string, t policy.RRType) ([]string, error) {
				return nil, policy.ErrNoRecords
			}),
			Resolver: policy.ResolverFunc(func(ctx context.Context, d string) (policy.DomainStatus, error) {
				return policy.DomainFound, nil
			}),
			Verifier: policy.VerifierFunc(func(ctx context.Context, a string) (policy.Verification, error) {
				return policy.Verification{}, nil
			}),
			SMTPDClientRestrictions:    fake(pc.SMTPDClientRestrictions),
			SMTPDHeloRestrictions:      fake(pc.SMTPDHeloRestrictions),
			SMTPDSenderRestrictions:    fake(pc.SMTPDSenderRestrictions),
			SMTPDRelayRestrictions:     fake(pc.SMTPDRelayRestrictions),
			SMTPDRecipientRestrictions: fake(pc.SMTPDRecipientRestrictions),
			SMTPDDataRestrictions:      fake(pc.SMTPDDataRestrictions),
			SMTPDRestrictionClasses:    map[string]string{},
		}
		for k, v := range pc.SMTPDRestrictionClasses {
			c.SMTPDRestrictionClasses[k] = fake(v)
		}
		if c.SMTPDRelayRestrictions == "dunno" && c.SMTPDRecipientRestrictions == "" {
			c.SMTPDRelayRestrictions = "" // Postfix's default relay restrictions
		}
		p, err := policy.New(context.Background(), c)
		want := corpusRefused[name]
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want a refusal naming %s", name, err, want)
		}
		if p != nil {
			p.Close()
		}
	}
}
