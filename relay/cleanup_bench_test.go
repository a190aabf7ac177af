package relay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// BenchmarkAcceptChecks is BenchmarkAcceptMemory with header_checks (ten
// regexp: rules) and body_checks (five pcre: rules), none of which
// matches: the message is read whole and every header field and body
// line is looked up.
func BenchmarkAcceptChecks(b *testing.B) {
	dir := b.TempDir()
	var hc, bc strings.Builder
	for i := range 10 {
		fmt.Fprintf(&hc, "/^X-Spam-%d:.*yes/ REJECT\n", i)
	}
	for i := range 5 {
		fmt.Fprintf(&bc, "/^forbidden phrase %d/ REJECT\n", i)
	}
	os.WriteFile(filepath.Join(dir, "header_checks"), []byte(hc.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "body_checks"), []byte(bc.String()), 0o644)
	headers, err := lookup.Open(context.Background(), "regexp:"+filepath.Join(dir, "header_checks"), nil)
	if err != nil {
		b.Fatal(err)
	}
	bodies, err := lookup.Open(context.Background(), "pcre:"+filepath.Join(dir, "body_checks"), nil)
	if err != nil {
		b.Fatal(err)
	}
	cl, err := cleanup.New(cleanup.Config{HeaderChecks: []lookup.Table{headers}, MIMEHeaderChecks: []lookup.Table{headers},
		NestedHeaderChecks: []lookup.Table{headers}, BodyChecks: []lookup.Table{bodies}})
	if err != nil {
		b.Fatal(err)
	}
	benchAccept(b, queue.NewMemory(), nil, func(_ *policy.Config, c *Config) { c.Cleanup = cl })
}

// BenchmarkAcceptDropHeaders is BenchmarkAcceptMemory with Postfix's
// default message_drop_headers, as every main.cf has it: the header of
// each message is read and copied once more, to remove Bcc:,
// Content-Length:, Resent-Bcc: and Return-Path: fields.
func BenchmarkAcceptDropHeaders(b *testing.B) {
	cl, err := cleanup.New(cleanup.Config{DropHeaders: []string{"bcc", "content-length", "resent-bcc", "return-path"}})
	if err != nil {
		b.Fatal(err)
	}
	benchAccept(b, queue.NewMemory(), nil, func(_ *policy.Config, c *Config) { c.Cleanup = cl })
}
