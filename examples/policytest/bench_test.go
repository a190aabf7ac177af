package main

import (
	"testing"

	"github.com/mxrelay/mxrelay/policy"
)

// BenchmarkCheckRcpt measures what the example policy costs per RCPT TO:
// client and sender access tables, the relay check and the recipient
// table, over the 30 cases of policy_test.go in turn.
func BenchmarkCheckRcpt(b *testing.B) {
	p := loadMainCF(b)
	ctx := b.Context()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := cases[i%len(cases)]
		if d := p.CheckRcpt(ctx, c.client, "client.example", c.sender, c.rcpt); d.Verdict == policy.Continue {
			b.Fatal("no decision")
		}
	}
}
