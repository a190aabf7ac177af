package relay

import (
	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// BackupMX returns the main.cf of a backup MX for domains, written with
// maincf's typed setters, for Load: what a Postfix admin would write,
//
//	compatibility_level = 3.6
//	myhostname = HOSTNAME
//	relay_domains = DOMAIN, DOMAIN...
//	relay_recipient_maps = go:relay_recipient_maps
//	mynetworks = 127.0.0.0/8, [::1]/128
//
// with the Go table recipients behind relay_recipient_maps (it receives
// keys folded to lower case: "bob@example.com", then "@example.com"). A
// nil recipients leaves relay_recipient_maps empty: every recipient of
// the domains is accepted, which Load warns about (backscatter). An empty
// hostname leaves myhostname to Postfix's default (the host's name).
//
// Change anything else on the returned File as in a main.cf, with Set,
// SetList and SetTable: cf.SetTable("transport_maps", myTransport),
// cf.SetList("mynetworks", "192.0.2.0/24"), cf.Set("maximal_queue_lifetime",
// "20d"). Every parameter goes through the same registry, checks and
// warnings as a main.cf file, so Go configuration and main.cf cannot
// diverge.
func BackupMX(hostname string, domains []string, recipients lookup.Table) *maincf.File {
	cf := &maincf.File{}
	cf.Set("compatibility_level", "3.6")
	if hostname != "" {
		cf.Set("myhostname", hostname)
	}
	cf.SetList("relay_domains", domains...)
	if recipients != nil {
		cf.SetTable("relay_recipient_maps", recipients)
	}
	cf.SetList("mynetworks", "127.0.0.0/8", "[::1]/128")
	return cf
}
