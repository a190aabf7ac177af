package main

import (
	"context"
	"fmt"
	"log"
	"net/netip"
)

// Ask the policy of main.cf what it answers to a stranger's RCPT TO
// commands, as the dry run and the tests do.
func ExamplePolicy_CheckRcpt() {
	ctx := context.Background()
	p, err := LoadPolicy(ctx, "main.cf")
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	stranger := netip.MustParseAddr("203.0.113.7")
	for _, rcpt := range []string{"<alice+news@example.com>", "<carol@example.com>", "<victim@elsewhere.example>"} {
		d := p.CheckRcpt(ctx, stranger, "client.example", "<a@sender.example>", rcpt)
		fmt.Println(d.Reply())
	}
	// Output:
	// 250 2.1.5 Ok
	// 550 5.1.1 <carol@example.com>: Recipient address rejected: User unknown in relay recipient table
	// 554 5.7.1 <victim@elsewhere.example>: Relay access denied
}
