package transport

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// A domain listing many MX hosts costs at most MaxMXHosts address
// lookups (default 20), taken best first; the rest are never queried.
func TestMXHostCap(t *testing.T) {
	var zone strings.Builder
	zone.WriteString("$ORIGIN test.\n$TTL 300\n")
	for i := 1; i <= 60; i++ {
		// Listed worst first, to show the cap follows preference, not
		// the order of the answer.
		n := 61 - i
		fmt.Fprintf(&zone, "wide IN MX %d h%d.wide\nh%d.wide IN A 127.0.11.%d\n", n, n, n, n)
	}
	srv, r := newDNSServerZone(t, zone.String())
	for _, tc := range []struct{ max, want int }{{0, 20}, {5, 5}, {100, 60}} {
		c := &AddressConfig{Resolver: r, AddressLimit: -1, NoRandomize: true, MaxMXHosts: tc.max}
		a, err := resolveHop(t, c, "wide.test")
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Dests) != tc.want {
			t.Fatalf("MaxMXHosts %d: %d addresses, want %d", tc.max, len(a.Dests), tc.want)
		}
		for i, d := range a.Dests {
			if d.Pref != i+1 {
				t.Fatalf("MaxMXHosts %d: address %d has preference %d", tc.max, i, d.Pref)
			}
		}
	}
	// Only the run with MaxMXHosts 100 looked up h21.
	if n := srv.Count("h21.wide.test", dns.TypeA, ""); n != 1 {
		t.Errorf("h21 looked up %d times, want once (only under MaxMXHosts 100)", n)
	}
}
