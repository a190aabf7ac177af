package policy_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"strings"

	"github.com/mxrelay/mxrelay/policy"
)

// A backup MX for example.com that knows its users: this is how you
// unit-test your relay policy. In a test, replace log.Fatal and Println
// with t.Fatal and comparisons.
func Example() {
	p, err := policy.New(context.Background(), policy.Config{
		InetInterfaces:     "loopback-only",
		RelayDomains:       "example.com",
		RelayRecipientMaps: "inline:{ alice@example.com=x }",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	for _, rcpt := range []string{"<Alice@Example.COM>", "<bob@example.com>", "<eve@elsewhere.example>"} {
		d := p.Check(context.Background(), &policy.Request{Stage: policy.StageRcpt,
			ClientAddr: netip.MustParseAddr("203.0.113.7"), Sender: "<a@sender.example>", Recipient: rcpt})
		fmt.Println(d.Reply())
	}
	// Output:
	// 250 2.1.5 Ok
	// 550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in relay recipient table
	// 454 4.7.1 <eve@elsewhere.example>: Relay access denied
}

// A restriction written in Go answers with an access(5) action.
func ExampleCheckFunc() {
	p, err := policy.New(context.Background(), policy.Config{
		InetInterfaces: "loopback-only",
		RelayDomains:   "example.com",
		Restrictions: map[string]policy.Check{
			"check_quota": policy.CheckFunc(func(ctx context.Context, r *policy.Request) (string, error) {
				if strings.HasPrefix(r.Recipient, "<full@") {
					return "452 4.2.2 Mailbox full", nil
				}
				return "DUNNO", nil
			}),
		},
		SMTPDRecipientRestrictions: "check_quota",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	d := p.Check(context.Background(), &policy.Request{Stage: policy.StageRcpt,
		ClientAddr: netip.MustParseAddr("198.51.100.1"), Recipient: "<full@example.com>"})
	fmt.Println(d.Verdict, d.Reply())
	// Output:
	// defer 452 4.2.2 <full@example.com>: Recipient address rejected: Mailbox full
}

func ExampleParseAddress() {
	a, err := policy.ParseAddress(`<@relay.example:"john doe"@Example.COM>`, false)
	fmt.Println(a.Local, "|", a.Domain, "|", a.String(), "|", a.External(), err)
	_, err = policy.ParseAddress("<u@192.0.2.1>", false)
	fmt.Println(err)
	// Output:
	// john doe | Example.COM | john doe@Example.COM | "john doe"@Example.COM <nil>
	// bad address syntax "<u@192.0.2.1>": numeric domain without brackets
}
