package main

import (
	"io"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
)

// BenchmarkDirectoryLookup measures one HTTP directory lookup on loopback.
func BenchmarkDirectoryLookup(b *testing.B) {
	dir := startDirectory(b)
	d := &Directory{URL: dir.URL + "/recipients", Client: dir.Client()}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, found, err := d.Lookup(ctx, "alice@example.com"); !found || err != nil {
			b.Fatal(found, err)
		}
	}
}

// BenchmarkCachedLookup measures a lookup answered by the Cache.
func BenchmarkCachedLookup(b *testing.B) {
	dir := startDirectory(b)
	c := &Cache{Table: &Directory{URL: dir.URL + "/recipients", Client: dir.Client()}}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, found, err := c.Lookup(ctx, "alice@example.com"); !found || err != nil {
			b.Fatal(found, err)
		}
	}
}

// BenchmarkTransaction measures one SMTP transaction through the gateway
// on loopback, on one connection: MAIL, RCPT (two directory lookups:
// alice+x@, then alice@), a 1 KiB DATA stored in a memory queue, RSET.
// Delivery to the internal server runs beside it, as in production.
func BenchmarkTransaction(b *testing.B) {
	hop, got := startNextHop(b)
	ctx := b.Context()
	go func() { // the messages delivered are not looked at
		for {
			select {
			case <-got:
			case <-ctx.Done():
				return
			}
		}
	}()
	dir := startDirectory(b)
	g := startGateway(b, dir, hop, queue.NewMemory())
	defer shutdown(b, g)
	c := startTransaction(b, g.Addr().String())
	body := "Subject: bench\r\n\r\n" + strings.Repeat("x", 1000) + "\r\n"
	first := true
	b.ReportAllocs()
	for b.Loop() {
		if !first {
			if err := c.Mail("sender@elsewhere.example", nil); err != nil {
				b.Fatal(err)
			}
		}
		first = false
		if err := c.Rcpt("alice+x@example.com", nil); err != nil {
			b.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			b.Fatal(err)
		}
		io.WriteString(w, body)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
