package daemon

import (
	"context"
	"fmt"
	"io"

	"github.com/mxrelay/mxrelay/relay"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// runCheck is -check: it sorts every parameter main.cf sets into used,
// ignored, not implemented and unknown, loads the configuration as the
// daemon would, prints the warnings, and returns the exit status: 1 when
// mxrelayd would refuse to run the file, else 0.
func runCheck(ctx context.Context, cf *maincf.File, opts relay.LoadOptions, stdout io.Writer) (int, error) {
	for _, p := range cf.Classify() {
		fmt.Fprintf(stdout, "%s: line %d: %s\n", p.Kind, p.Line, p)
	}
	ld, err := relay.Load(ctx, cf, opts)
	if err != nil {
		// Say what was found before the fatal error too: main.cf's own
		// warnings and the commonest cause of a surprising open-relay or
		// relay_domains error.
		for _, w := range cf.Warnings() {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
		if !cf.IsSet("compatibility_level") {
			fmt.Fprintf(stdout, "hint: compatibility_level is not set, so Postfix's pre-3.6 defaults apply "+
				"(relay_domains = $mydestination, no smtpd_relay_restrictions); a new configuration wants compatibility_level = 3.6\n")
		}
		return 1, err
	}
	defer ld.Close()
	for _, w := range ld.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "configuration OK: myhostname=%s relay_domains=%q relay_recipient_maps=%q\n",
		cf.Get("myhostname"), cf.Get("relay_domains"), cf.Get("relay_recipient_maps"))
	return 0, nil
}
