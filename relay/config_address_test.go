package relay

import (
	"strings"
	"testing"
)

// The delivery address parameters reach transport.AddressConfig:
// inet_protocols decides which record types are looked up (Postfix asks
// for A records only under "ipv4"), and the smtp_* address parameters
// keep their Postfix meaning (smtp_mx_address_limit = 0: no limit).
func TestAddressConfig(t *testing.T) {
	for _, tc := range []struct {
		cf, network, prefer string
		limit               int
		noRandom            bool
	}{
		{"", "ip", "", 5, false},
		{"inet_protocols = ipv4\n", "ip4", "", 5, false},
		{"inet_protocols = ipv6\n", "ip6", "", 5, false},
		{"inet_protocols = ipv4, ipv6\n", "ip", "", 5, false},
		{"smtp_address_preference = ipv4\nsmtp_mx_address_limit = 0\nsmtp_randomize_addresses = no\n", "ip", "ipv4", -1, true},
	} {
		r := &reader{cf: mustParse("compatibility_level = 3.6\n" + tc.cf)}
		ac := addressConfig(r, nil, nil)
		if err := r.err(); err != nil {
			t.Fatalf("%q: %v", tc.cf, err)
		}
		if ac.Network != tc.network || ac.Prefer != tc.prefer || ac.AddressLimit != tc.limit || ac.NoRandomize != tc.noRandom {
			t.Errorf("%q: %+v", tc.cf, ac)
		}
	}
	for _, bad := range []string{"inet_protocols = ipv5\n", "smtp_address_preference = ipv5\n", "smtp_mx_address_limit = many\n"} {
		r := &reader{cf: mustParse("compatibility_level = 3.6\n" + bad)}
		addressConfig(r, nil, nil)
		if err := r.err(); err == nil || !strings.Contains(err.Error(), strings.Fields(bad)[0]) {
			t.Errorf("%q: error %v does not name the parameter", bad, err)
		}
	}
}
