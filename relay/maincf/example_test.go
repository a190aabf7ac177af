package maincf_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
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
smtpd_sasl_auth_enable = yes
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
	fmt.Println(cf.Refuse(params, []string{"smtpd_sasl_auth_enable"}))
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
	// line 8: not implemented: smtpd_sasl_auth_enable = yes: SMTP AUTH is not implemented: clients that relay after authenticating would be refused
	// <nil>
}

// SetList and SetTable configure a File from Go values, as main.cf lines
// would: the same parameters, read and checked the same way.
func ExampleFile_SetList() {
	cf := &maincf.File{}
	cf.Set("compatibility_level", "3.6")
	cf.SetList("relay_domains", "example.com", "example.org")
	cf.SetList("smtpd_recipient_restrictions", "check_recipient_access inline:{ a.example=OK }", "reject_unauth_destination")
	cf.SetTable("relay_recipient_maps",
		lookup.NewMap(map[string]string{"alice@example.com": "OK"}),
		lookup.TableFunc(func(context.Context, string) (string, bool, error) { return "", false, nil }))
	for _, name := range cf.Names() {
		v, _ := cf.Raw(name)
		fmt.Println(name, "=", v)
	}
	fmt.Printf("%q\n", cf.List("smtpd_recipient_restrictions"))
	fmt.Println(len(cf.Tables()), "Go tables")
	// Output:
	// compatibility_level = 3.6
	// relay_domains = example.com, example.org
	// smtpd_recipient_restrictions = check_recipient_access inline:{ a.example=OK }, reject_unauth_destination
	// relay_recipient_maps = go:relay_recipient_maps, go:relay_recipient_maps.2
	// ["check_recipient_access" "inline:{ a.example=OK }" "reject_unauth_destination"]
	// 2 Go tables
}
