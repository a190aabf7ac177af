package msgauth_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/policy/msgauth"
)

// records is a DNS made of a map, for the example; relay gives the
// Checker transport's resolver.
func records(m map[string][]string) msgauth.DNS {
	return policy.DNSFunc(func(_ context.Context, name string, t policy.RRType) ([]string, error) {
		if v, ok := m[string(t)+" "+name]; ok {
			return v, nil
		}
		return nil, policy.ErrNoRecords
	})
}

func Example() {
	c, err := msgauth.New(msgauth.Config{
		AuthservID: "mx.example.net",
		DNS: records(map[string][]string{
			"TXT example.org":        {"v=spf1 ip4:192.0.2.0/24 -all"},
			"TXT _dmarc.example.org": {"v=DMARC1; p=reject"},
		}),
	})
	if err != nil {
		panic(err)
	}
	for _, client := range []string{"192.0.2.25", "203.0.113.9"} {
		r := c.Check(context.Background(), msgauth.Message{
			ClientAddr: netip.MustParseAddr(client),
			Helo:       "[" + client + "]",
			Sender:     "alice@example.org",
			Data:       []byte("From: alice@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"),
		})
		fmt.Println(strings.ReplaceAll(r.Field(), "\r\n", "\n")) // CRLF in a message
		fmt.Println("action:", r.Action)
	}
	// Output:
	// Authentication-Results: mx.example.net;
	// 	dkim=none;
	// 	spf=pass smtp.mailfrom=example.org;
	// 	dmarc=pass header.from=example.org
	// action: annotate
	// Authentication-Results: mx.example.net;
	// 	dkim=none;
	// 	spf=fail smtp.mailfrom=example.org;
	// 	dmarc=fail reason="p=reject" header.from=example.org
	// action: reject
}

// A hook decides from the typed results: here, hold what fails DMARC
// whatever the domain's policy, and never reject.
func ExampleConfig_decide() {
	c, err := msgauth.New(msgauth.Config{
		AuthservID: "mx.example.net",
		DNS: records(map[string][]string{
			"TXT example.org":        {"v=spf1 -all"},
			"TXT _dmarc.example.org": {"v=DMARC1; p=none"},
		}),
		Decide: func(_ context.Context, r *msgauth.Results) msgauth.Action {
			if r.DMARC.Result == msgauth.Fail {
				return msgauth.Hold
			}
			return msgauth.Annotate
		},
	})
	if err != nil {
		panic(err)
	}
	r := c.Check(context.Background(), msgauth.Message{
		ClientAddr: netip.MustParseAddr("203.0.113.9"),
		Sender:     "bob@example.org",
		Data:       []byte("From: bob@example.org\r\n\r\nHi.\r\n"),
	})
	fmt.Println(r.SPF.Result, r.DMARC.Result, r.DMARC.Policy, r.Action)
	// Output: fail fail none hold
}
