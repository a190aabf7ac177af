package relay

import (
	"testing"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/milter"
	"github.com/mxrelay/mxrelay/relay/milter/miltertest"
	"github.com/mxrelay/mxrelay/relay/smtpdproxy"
)

// benchMilter is BenchmarkAcceptMemory with one milter (at spec) in
// every session: per message, the MAIL, RCPT, DATA, header, end of
// header, body and end of message events, each a round trip on
// loopback, the message read whole, and the ABORT after it.
func benchMilter(b *testing.B, spec string) {
	specs, err := milter.ParseList(spec, milter.Defaults{Macros: milter.DefaultMacros()})
	if err != nil {
		b.Fatal(err)
	}
	benchAccept(b, queue.NewMemory(), nil, func(_ *policy.Config, c *Config) {
		c.Milters = &Milters{Specs: specs, Version: "Postfix 3.7.11"}
	})
}

// BenchmarkAcceptMilter: the milter is miltertest's, which continues at
// every event and adds one header at the end of the message.
func BenchmarkAcceptMilter(b *testing.B) {
	srv, err := miltertest.Start(miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
		if e.Cmd == miltertest.EndOfMessage {
			return []miltertest.Packet{miltertest.AddHeader("X-Milter", "seen")}
		}
		return nil
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	benchMilter(b, "inet:"+srv.Addr)
}

// BenchmarkAcceptOpenDKIM: the milter is Debian's opendkim (the
// configuration of TestOpenDKIM): the client, 127.0.0.1, is internal to
// it and the mail is from sender.example, which it does not sign, so it
// reads the whole message and passes it.
func BenchmarkAcceptOpenDKIM(b *testing.B) {
	benchMilter(b, "unix:"+startOpenDKIM(b))
}

// BenchmarkAcceptProxy is BenchmarkAcceptMemory on a listener with a
// before-queue filter (smtpd_proxy_filter): per message, a connection
// to the filter (a Go SMTP server on loopback that accepts everything
// and discards the message), its greeting, EHLO, XFORWARD, MAIL, RCPT,
// DATA, the message, the end of data and QUIT; nothing is queued.
func BenchmarkAcceptProxy(b *testing.B) {
	p := startProxyQuiet(b, map[string]string{}, true)
	benchAccept(b, queue.NewMemory(), nil, func(_ *policy.Config, c *Config) {
		c.ProxyFilter = &smtpdproxy.Config{Service: p.addr(), EHLO: "mx2.example.test"}
	})
}
