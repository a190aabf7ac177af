package maincf_test

import (
	"fmt"
	"strings"

	"github.com/mxrelay/mxrelay/relay/maincf"
)

// A main.cf is read as Postfix reads it: continuation lines, $name
// expansion, Postfix 3.7's defaults, typed readers, and every parameter
// sorted into the four kinds.
func ExampleFile_Classify() {
	cf, err := maincf.Parse(strings.NewReader(`compatibility_level = 3.6
myhostname = mx2.example.net
relay_domains = backup.example,
    $mydomain
maximal_queue_lifetime = 10
biff = no
relay_recipent_maps = hash:/etc/postfix/relay_recipients
content_filter = amavis:[127.0.0.1]:10024
`), "main.cf")
	if err != nil {
		panic(err)
	}
	life, _ := cf.Duration("maximal_queue_lifetime")
	backoff, _ := cf.Duration("minimal_backoff_time")
	fmt.Println("relay_domains:", cf.Get("relay_domains"))
	fmt.Println("mydestination:", cf.Get("mydestination"))
	fmt.Println("maximal_queue_lifetime:", life)
	fmt.Println("minimal_backoff_time (default):", backoff)
	params := cf.Classify()
	for _, p := range params {
		fmt.Printf("line %d: %s: %s\n", p.Line, p.Kind, p)
	}
	fmt.Println(cf.Refuse(params, []string{"content_filter"}))
	// Output:
	// relay_domains: backup.example,    example.net
	// mydestination: mx2.example.net, localhost.example.net, localhost
	// maximal_queue_lifetime: 240h0m0s
	// minimal_backoff_time (default): 5m0s
	// line 1: used: compatibility_level = 3.6 (used by relay)
	// line 2: used: myhostname = mx2.example.net (used by relay)
	// line 3: used: relay_domains = backup.example,    example.net (used by transport)
	// line 5: used: maximal_queue_lifetime = 10 (used by queue)
	// line 6: ignored: biff = no
	// line 7: unknown: relay_recipent_maps = hash:/etc/postfix/relay_recipients: unused parameter: Postfix does not know it (did you mean relay_recipient_maps?)
	// line 8: not implemented: content_filter = amavis:[127.0.0.1]:10024: after-queue content filtering is not implemented: mail would be relayed unscanned
	// <nil>
}
