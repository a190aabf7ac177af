package lookup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// A backup MX validates recipients against relay_recipient_maps, with an
// extension delimiter and a per-domain wildcard.
func ExampleSearch() {
	ctx := context.Background()
	recipients := lookup.NewMap(map[string]string{
		"User1@Backup.Example": "OK",
		"@open.example":        "OK",
	})
	for _, rcpt := range []string{"user1+tag@backup.example", "anyone@open.example", "nosuch@backup.example"} {
		keys := lookup.AppendRecipientKeys(nil, rcpt, lookup.KeyOptions{Delimiters: "+"})
		r, found, err := lookup.Search(ctx, []lookup.Table{recipients}, keys)
		switch {
		case err != nil:
			fmt.Println(rcpt, "451 4.3.0 Temporary lookup failure")
		case !found:
			fmt.Println(rcpt, "not listed")
		default:
			fmt.Println(rcpt, "listed as", r.Key.Key)
		}
	}
	// Output:
	// user1+tag@backup.example listed as user1@backup.example
	// anyone@open.example listed as @open.example
	// nosuch@backup.example not listed
}

// Compile a postmap source into a cdb file and query it, as
// "postmap cdb:transport" and "postmap -q" would.
func ExampleCompile() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "transport")
	os.WriteFile(src, []byte("backup.example  relay:[10.0.0.25]\nDup a\ndup b\n"), 0o644)

	warnings, err := lookup.Compile(src, lookup.CompileOptions{})
	if err != nil {
		panic(err)
	}
	for _, w := range warnings {
		fmt.Println("warning:", strings.TrimPrefix(w.String(), dir+"/"))
	}
	tab, _ := lookup.Open(ctx, "cdb:"+src, nil)
	v, found, _ := tab.Lookup(ctx, "BACKUP.example")
	fmt.Println(v, found)
	// Output:
	// warning: transport: duplicate entry: "dup"
	// relay:[10.0.0.25] true
}

// relay_domains with Postfix 3.7's default parent matching: a name covers
// its subdomains, and a leading-dot literal matches nothing.
func ExampleParseList() {
	ctx := context.Background()
	l, _, _ := lookup.ParseList(ctx, "backup.example, .dot.example", lookup.ListOptions{Name: "relay_domains", ParentStyle: true})
	for _, d := range []string{"backup.example", "mx.backup.example", "x.dot.example"} {
		m, _ := l.MatchDomain(ctx, d)
		fmt.Println(d, m)
	}
	// Output:
	// backup.example true
	// mx.backup.example true
	// x.dot.example false
}
