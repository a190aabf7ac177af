package relay

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// TestRegistryCoversReads: every parameter Load reads is registered as
// used (maincf.UsedBy), so that -check never calls a parameter mxrelay
// reads "ignored"; and every registered parameter is read by one of two
// loads (with and without main.cf settings that decide whether others are
// read), so that -check never calls "used" a parameter nothing reads.
func TestRegistryCoversReads(t *testing.T) {
	read := map[string]bool{}
	for _, text := range []string{
		"compatibility_level = 3.6\nrelay_domains = example.test\nlocal_recipient_maps =\n",
		"compatibility_level = 3.6\nrelay_domains = example.test\nsmtpd_tls_security_level = may\nsmtpd_tls_cert_file = /nonexistent/cert.pem\n",
		"compatibility_level = 3.6\nrelay_domains = example.test\nsmtpd_milters = inet:127.0.0.1:1\nmilter_macro_defaults = {auth_type}=none\nsmtpd_proxy_filter = 127.0.0.1:10024\n",
	} {
		cf, err := maincf.Parse(strings.NewReader(text), "main.cf")
		if err != nil {
			t.Fatal(err)
		}
		cf.InterfaceAddrs = loopbackOnly
		ld, err := Load(t.Context(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}})
		if err != nil {
			t.Fatal(err)
		}
		ld.Close()
		for _, n := range cf.Consulted() {
			read[n] = true
			if _, ok := maincf.UsedBy(n); !ok {
				t.Errorf("Load reads %s, which the registry does not list as used", n)
			}
		}
	}
	for _, n := range maincf.UsedNames() {
		// Read only through the $name of other parameters' defaults:
		// smtp_fallback_relay = $fallback_relay, virtual_alias_maps =
		// $virtual_maps, mydestination's $mydomain, the
		// ${{$compatibility_level} <level {2} ? ...} and ${stress?...}
		// expressions.
		// mxrelayd's own (UserDaemon) are read by the daemon, not Load.
		if u, _ := maincf.UsedBy(n); u == maincf.UserDaemon {
			continue
		}
		if !read[n] && !slices.Contains([]string{"fallback_relay", "virtual_maps", "mydomain", "compatibility_level", "stress"}, n) {
			t.Errorf("the registry lists %s as used, but Load does not read it", n)
		}
	}
}

func loopbackOnly() ([]netip.Prefix, error) {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}, nil
}
