package lookup

import (
	"context"
	"testing"
)

// BenchmarkSocketmapHit: a hit on a socketmap: table whose connection to
// an in-process loopback server is warm (opened by the first lookup).
func BenchmarkSocketmapHit(b *testing.B) {
	srv := startServer(b, "tcp", readNetstringReq, socketmapAnswers)
	benchHit(b, "socketmap:inet:"+srv.addr()+":virtual", "bob@example.com")
}

// BenchmarkTCPHit: a hit on a tcp: table with a warm connection.
func BenchmarkTCPHit(b *testing.B) {
	srv := startServer(b, "tcp", readTCPReq, tcpAnswers)
	benchHit(b, "tcp:"+srv.addr(), "bob@example.com")
}

// BenchmarkPCREHit: a hit on a pcre: rule with a back-reference and a
// $n substitution, after a rule that does not match.
func BenchmarkPCREHit(b *testing.B) {
	benchHit(b, "pcre:testdata/postmapq/pat.pcre", "abba@pal.example")
}

func benchHit(b *testing.B, spec, key string) {
	ctx := context.Background()
	tab, err := Open(ctx, spec, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer Close(tab)
	if _, ok, err := tab.Lookup(ctx, key); !ok || err != nil {
		b.Fatalf("warm-up lookup: %v, %v", ok, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, ok, err := tab.Lookup(ctx, key); !ok || err != nil {
			b.Fatalf("lookup: %v, %v", ok, err)
		}
	}
}
