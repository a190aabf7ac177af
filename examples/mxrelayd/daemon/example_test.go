package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// -check loads a Postfix main.cf, prints what an admin should know about
// it (here: a backup MX without relay_recipient_maps accepts mail for
// any address in its domains, and one parameter mxrelayd does not use),
// and exits 0 when it would run.
func Example_check() {
	dir, err := os.MkdirTemp("", "mxrelayd-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	cf := filepath.Join(dir, "main.cf")
	os.WriteFile(cf, []byte(`compatibility_level = 3.6
myhostname = mx2.example.net
relay_domains = example.test
biff = no
`), 0o644)
	code := run(context.Background(), []string{"-check", "-config", cf, "-dns", "127.0.0.1:1"}, os.Stdout, io.Discard, nil)
	fmt.Println("exit status", code)
	// Output:
	// used: line 1: compatibility_level = 3.6 (used by relay)
	// used: line 2: myhostname = mx2.example.net (used by relay)
	// used: line 3: relay_domains = example.test (used by transport)
	// ignored: line 4: biff = no
	// warning: relay_recipient_maps: empty: every localpart of a relay domain is accepted, and mail to unknown users will bounce to forged senders (backscatter); list the valid recipients
	// configuration OK: myhostname=mx2.example.net relay_domains="example.test" relay_recipient_maps=""
	// exit status 0
}
