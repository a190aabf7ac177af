package policy

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
)

// benchDir holds the 1M-key recipient table, built once per test binary
// run and removed by TestMain.
var bench struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

const benchUsers = 1000000

func benchUser(i int) string { return fmt.Sprintf("user%d@backup%d.example", i, i%4) }

// benchTables writes relay_recipients (1M keys, compiled to cdb with
// lookup.Compile) and a small access table.
func benchTables(b *testing.B) string {
	bench.once.Do(func() {
		bench.dir, bench.err = os.MkdirTemp("", "policy-bench")
		if bench.err != nil {
			return
		}
		f, err := os.Create(filepath.Join(bench.dir, "relay_recipients"))
		if err != nil {
			bench.err = err
			return
		}
		w := bufio.NewWriter(f)
		for i := 0; i < benchUsers; i++ {
			fmt.Fprintf(w, "%s x\n", benchUser(i))
		}
		w.Flush()
		f.Close()
		if _, bench.err = lookup.Compile(filepath.Join(bench.dir, "relay_recipients"), lookup.CompileOptions{}); bench.err != nil {
			return
		}
		a, _ := os.Create(filepath.Join(bench.dir, "access"))
		for i := 0; i < 100; i++ {
			fmt.Fprintf(a, "spammer%d@backup0.example REJECT\n", i)
		}
		fmt.Fprintf(a, "blocked.example REJECT\n")
		a.Close()
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.dir
}

// BenchmarkRcptBackupMX measures a full RCPT decision of a typical backup
// MX: mynetworks, four relay domains, relay_recipient_maps as a 1M-key cdb
// table and one access table, for a stranger sending to listed
// recipients (the accepted path) and to unknown ones (550).
func BenchmarkRcptBackupMX(b *testing.B) {
	dir := benchTables(b)
	ctx := context.Background()
	p, err := New(ctx, Config{
		MyHostname:                 "mx.example.net",
		MyDestination:              "mx.example.net, localhost",
		InetInterfaces:             "127.0.0.1",
		MyNetworks:                 "127.0.0.0/8, 192.0.2.0/24",
		RelayDomains:               "backup0.example, backup1.example, backup2.example, backup3.example",
		RelayRecipientMaps:         "cdb:" + filepath.Join(dir, "relay_recipients"),
		RecipientDelimiter:         "+",
		SMTPDRecipientRestrictions: "check_recipient_access texthash:" + filepath.Join(dir, "access"),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	const n = 4096
	for _, tc := range []struct {
		name string
		rcpt func(i int) string
		want int
	}{
		{"listed", func(i int) string { return "<" + benchUser(i*241%benchUsers) + ">" }, 250},
		{"unknown", func(i int) string { return fmt.Sprintf("<nosuch%d@backup%d.example>", i, i%4) }, 550},
	} {
		reqs := make([]Request, n)
		for i := range reqs {
			reqs[i] = Request{Stage: StageRcpt, ClientAddr: netip.MustParseAddr("203.0.113.5"), ClientName: "mail.sender.example",
				Helo: "mail.sender.example", Sender: "<alice@sender.example>", Recipient: tc.rcpt(i)}
			if d := p.Check(ctx, &reqs[i]); d.Code != tc.want {
				b.Fatalf("%s: %s (%v)", reqs[i].Recipient, d.Reply(), d.Err)
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				p.Check(ctx, &reqs[i%n])
				i++
			}
		})
	}
}
