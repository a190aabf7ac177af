package milter_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/mxrelay/mxrelay/relay/milter"
	"github.com/mxrelay/mxrelay/relay/milter/miltertest"
)

func Example() {
	srv, err := miltertest.Start(miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
		switch e.Cmd {
		case miltertest.Rcpt:
			if e.Strings()[0] == "<spamtrap@example.com>" {
				return []miltertest.Packet{miltertest.ReplyCode("550 5.7.1 No thanks")}
			}
		case miltertest.EndOfMessage:
			return []miltertest.Packet{miltertest.AddHeader("X-Scanned", "yes"), miltertest.AddRcpt("<archive@example.com>")}
		}
		return nil
	}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	specs, err := milter.ParseList("{ inet:"+srv.Addr+", default_action=accept }", milter.Defaults{Macros: milter.DefaultMacros()})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	macros := func(name string) (string, bool) {
		if name == "i" {
			return "4ZqXyT1abcz", true
		}
		return "", false
	}
	s := milter.NewSession(specs, milter.Options{})
	defer s.Close()
	s.Connect(ctx, "client.example", netip.MustParseAddr("192.0.2.1"), 4321, macros)
	s.Helo(ctx, "client.example", macros)
	s.Mail(ctx, []string{"<a@example.org>"}, macros)
	fmt.Println(s.Rcpt(ctx, []string{"<spamtrap@example.com>"}, macros))
	fmt.Println(s.Rcpt(ctx, []string{"<b@example.com>"}, macros))
	s.Data(ctx, macros)
	msg := milter.ParseMessage([]byte("Subject: hello\r\n\r\nHi.\r\n"), -1)
	reply, edits := s.Message(ctx, msg, macros)
	fmt.Println(reply)
	fmt.Printf("%q\n", msg.Bytes())
	fmt.Println(edits[0].Address)
	// Output:
	// 550 5.7.1 No thanks
	// continue
	// continue
	// "Subject: hello\r\nX-Scanned: yes\r\n\r\nHi.\r\n"
	// <archive@example.com>
}
