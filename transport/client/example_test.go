package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"strings"

	"github.com/emersion/go-smtp"
	"github.com/mxrelay/mxrelay/transport/client"
)

// Delivering two messages to a go-smtp server: the second reuses the
// first's connection, and a refused recipient gets its own result with the
// peer's reply, worded as Postfix logs it.
func ExampleClient_Deliver() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := smtp.NewServer(backend{})
	srv.Domain = "mx.example.com"
	go srv.Serve(ln)
	defer srv.Close()

	c, err := client.New(client.Config{Hostname: "relay.example.net"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	target := client.Target{Host: "mx.example.com", Address: ln.Addr().String(), TLS: client.TLSNone}
	for i := range 2 {
		body := fmt.Sprintf("Subject: %d\n\n.leading dot, bare LF line endings\n", i)
		res, err := c.Deliver(context.Background(), target, &client.Message{
			From:       "alice@example.org",
			Recipients: []client.Recipient{{Address: "bob@example.com"}, {Address: "nobody@example.com"}},
			Body:       strings.NewReader(body), Size: int64(len(body)),
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("reused:", res.Reused)
		for _, r := range res.Recipients {
			fmt.Println(" ", r.Recipient, r.Status, r.Reply.Code)
		}
		if e := res.Recipients[1].Err; e != nil {
			fmt.Println(" ", e)
		}
	}
	// Output:
	// reused: false
	//   bob@example.com delivered 250
	//   nobody@example.com failed 550
	//   host mx.example.com[127.0.0.1] said: 550 5.1.1 User unknown (in reply to RCPT TO command)
	// reused: true
	//   bob@example.com delivered 250
	//   nobody@example.com failed 550
	//   host mx.example.com[127.0.0.1] said: 550 5.1.1 User unknown (in reply to RCPT TO command)
}

// Parsing a multi-line reply with an enhanced status code.
func ExampleParseReply() {
	r, err := client.ParseReply("550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 Please try again.\r\n")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Code, r.Enhanced, r.Permanent(), len(r.Lines))
	fmt.Println(r)
	// Output:
	// 550 5.1.1 true 2
	// 550 5.1.1 The email account that you tried to reach does not exist. Please try again.
}

type backend struct{}

func (backend) NewSession(*smtp.Conn) (smtp.Session, error) { return session{}, nil }

type session struct{}

func (session) Mail(string, *smtp.MailOptions) error { return nil }
func (session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to != "bob@example.com" {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
	}
	return nil
}
func (session) Data(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }
func (session) Reset()                 {}
func (session) Logout() error          { return nil }
