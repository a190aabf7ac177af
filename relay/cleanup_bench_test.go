package relay

import (
	"context"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/cleanup"
)

// BenchmarkAcceptVirtualAlias is BenchmarkAcceptMemory with
// virtual_alias_maps: the recipient is an alias of two addresses, so
// each message costs a table search per address and a route per
// expanded recipient more.
func BenchmarkAcceptVirtualAlias(b *testing.B) {
	const aliases = "inline:{ { u@example.test = a@example.net, b@example.net } }"
	virtual, err := lookup.Open(context.Background(), aliases, nil)
	if err != nil {
		b.Fatal(err)
	}
	cl, err := cleanup.New(cleanup.Config{VirtualAlias: []lookup.Table{virtual}})
	if err != nil {
		b.Fatal(err)
	}
	benchAccept(b, queue.NewMemory(), nil, func(pc *policy.Config, c *Config) {
		pc.VirtualAliasMaps = aliases
		c.Cleanup = cl
	})
}
