package transport

import (
	"context"
	"testing"

	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// TestLookupIDNA: DNS is asked for A-labels: a U-label domain finds its
// MX under its xn-- name, and a lookalike that case folding matched to an
// ASCII domain ("teſt", long s) is asked as that domain (UTS #46), so
// that mail accepted for it is not deferred for a name DNS cannot know.
func TestLookupIDNA(t *testing.T) {
	srv, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.AddZone(`
xn--bcher-kva.example. 300 IN MX 10 mx.xn--bcher-kva.example.
victim.test. 300 IN MX 10 mx.victim.test.
`); err != nil {
		t.Fatal(err)
	}
	d, err := NewDNS(DNSConfig{Servers: []string{srv.Addr()}, Timeout: testDNSTimeout, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"bücher.example": "mx.xn--bcher-kva.example.",
		"BÜCHER.example": "mx.xn--bcher-kva.example.",
		"victim.teſt":    "mx.victim.test.",
	} {
		mxs, err := d.LookupMX(context.Background(), name)
		if err != nil || len(mxs) != 1 || mxs[0].Host != want {
			t.Errorf("LookupMX(%q) = %v, %v; want %s", name, mxs, err, want)
		}
	}
	if _, err := d.LookupMX(context.Background(), "bad\u00ad\u200d.example"); err == nil {
		t.Error("an invalid IDN was looked up")
	}
}
