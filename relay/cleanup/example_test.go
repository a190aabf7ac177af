package cleanup_test

import (
	"context"
	"fmt"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/relay/cleanup"
)

// A virtual alias table as main.cf's virtual_alias_maps: a list, a
// nested alias and a catch-all.
func ExampleCleanup_Recipients() {
	virtual := lookup.TableFunc(func(_ context.Context, key string) (string, bool, error) {
		v, ok := map[string]string{
			"sales@example.com": "alice@example.net, bob@example.net",
			"info@example.com":  "sales@example.com",
			"@example.org":      "catchall@example.net",
		}[key]
		return v, ok, nil
	})
	cl, err := cleanup.New(cleanup.Config{VirtualAlias: []lookup.Table{virtual}, MyOrigin: "mx.example.net"})
	if err != nil {
		panic(err)
	}
	rcpts, err := cl.Recipients(context.Background(), "4FJ3K1", []string{"info@example.com", "anyone@example.org", "carol@example.net"})
	if err != nil {
		panic(err)
	}
	for _, r := range rcpts {
		fmt.Printf("%s (orig_to=%s)\n", r.Address, r.Original)
	}
	// Output:
	// alice@example.net (orig_to=info@example.com)
	// bob@example.net (orig_to=info@example.com)
	// catchall@example.net (orig_to=anyone@example.org)
	// carol@example.net (orig_to=carol@example.net)
}
