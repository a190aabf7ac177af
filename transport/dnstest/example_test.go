package dnstest_test

import (
	"fmt"
	"log"

	"github.com/miekg/dns"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// A zone served on 127.0.0.1, asked over UDP, then told to fail.
func Example() {
	srv, err := dnstest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	if err := srv.AddZone(`
$ORIGIN example.org.
@    300 IN MX 10 mx1
mx1  300 IN A  127.0.0.2
`); err != nil {
		log.Fatal(err)
	}
	ask := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("example.org.", dns.TypeMX)
		r, err := dns.Exchange(m, srv.Addr())
		if err != nil {
			log.Fatal(err)
		}
		return r
	}
	r := ask()
	fmt.Println(dns.RcodeToString[r.Rcode], r.Answer[0].(*dns.MX).Mx)
	srv.SetFault("example.org", dns.TypeMX, dnstest.ServFail)
	fmt.Println(dns.RcodeToString[ask().Rcode], srv.Count("example.org", dns.TypeMX, "udp"))
	// Output:
	// NOERROR mx1.example.org.
	// SERVFAIL 2
}
