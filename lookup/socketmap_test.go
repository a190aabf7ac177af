package lookup

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// socketmapAnswers is the server side of the socketmap tests: the map
// "virtual" knows a few keys; others trigger each kind of reply.
func socketmapAnswers(req string) string {
	name, key, _ := strings.Cut(req, " ")
	if name != "virtual" {
		return string(appendNetstring(nil, "PERM no such map "+name))
	}
	switch key {
	case "bob@example.com":
		return string(appendNetstring(nil, "OK bob@mailbox.example"))
	case "Mixed@Example.COM":
		return string(appendNetstring(nil, "OK as given"))
	case "spaces":
		return string(appendNetstring(nil, "OK a b  c"))
	case "temp":
		return string(appendNetstring(nil, "TEMP database is down"))
	case "timeout":
		return string(appendNetstring(nil, "TIMEOUT"))
	case "perm":
		return string(appendNetstring(nil, "PERM broken"))
	case "weird":
		return string(appendNetstring(nil, "MAYBE so"))
	case "empty":
		return string(appendNetstring(nil, "OK"))
	case "long":
		return string(appendNetstring(nil, "OK "+strings.Repeat("x", socketmapMaxReply)))
	case "badframe":
		return "5:OK ab;"
	case "stall":
		return ""
	}
	return string(appendNetstring(nil, "NOTFOUND "))
}

func openSocketmapTest(t *testing.T, spec string, o *OpenOptions) *SocketmapTable {
	t.Helper()
	tab, err := Open(context.Background(), spec, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tab.(*SocketmapTable).Close() })
	return tab.(*SocketmapTable)
}

func TestSocketmap(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t, "tcp", readNetstringReq, socketmapAnswers)
	tab := openSocketmapTest(t, "socketmap:inet:"+srv.addr()+":virtual", &OpenOptions{LookupTimeout: 300 * time.Millisecond})
	for _, c := range []struct {
		key   string
		value string
		found bool
		kind  ErrorKind
	}{
		{"bob@example.com", "bob@mailbox.example", true, 0},
		{"Mixed@Example.COM", "as given", true, 0}, // keys are sent as given
		{"spaces", "a b  c", true, 0},
		{"nobody@example.com", "", false, 0},
		{"temp", "", false, Temporary},
		{"timeout", "", false, Temporary},
		{"perm", "", false, Config},
		{"weird", "", false, Temporary},
		{"empty", "", false, Config},
		{"long", "", false, Temporary},
		{"badframe", "", false, Temporary},
		{"stall", "", false, Temporary},
		{"bob@example.com", "bob@mailbox.example", true, 0}, // after the errors, still answering
	} {
		v, found, err := tab.Lookup(ctx, c.key)
		if KindOf(err) != c.kind || (err == nil) != (c.kind == 0) {
			t.Errorf("Lookup(%q): error %v (kind %v), want kind %v", c.key, err, KindOf(err), c.kind)
		}
		if v != c.value || found != c.found {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", c.key, v, found, c.value, c.found)
		}
	}
	reqs := srv.requests()
	if len(reqs) == 0 || reqs[0] != "virtual bob@example.com" {
		t.Errorf("first request %q, want \"virtual bob@example.com\"", reqs)
	}
}

// Connections are reused: many lookups, one connection; a server that
// hangs up between two lookups is reconnected to transparently.
func TestSocketmapReuse(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t, "tcp", readNetstringReq, socketmapAnswers)
	tab := openSocketmapTest(t, "socketmap:inet:"+srv.addr()+":virtual", nil)
	for range 20 {
		if _, ok, err := tab.Lookup(ctx, "bob@example.com"); !ok || err != nil {
			t.Fatalf("Lookup: %v, %v", ok, err)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("20 sequential lookups used %d connections, want 1", n)
	}
	srv.hangUp.Store(true)
	for i := range 3 {
		if _, ok, err := tab.Lookup(ctx, "bob@example.com"); !ok || err != nil {
			t.Fatalf("lookup %d after the server hung up: %v, %v", i, ok, err)
		}
	}
}

func TestSocketmapUnix(t *testing.T) {
	srv := startServer(t, "unix", readNetstringReq, socketmapAnswers)
	tab := openSocketmapTest(t, "socketmap:unix:"+srv.addr()+":virtual", nil)
	if v, ok, err := tab.Lookup(context.Background(), "bob@example.com"); v != "bob@mailbox.example" || !ok || err != nil {
		t.Errorf("Lookup = %q, %v, %v", v, ok, err)
	}
}

// A server that is down is a Temporary error, never "not found".
func TestSocketmapDown(t *testing.T) {
	tab := openSocketmapTest(t, "socketmap:inet:"+deadAddr(t)+":virtual", nil)
	_, found, err := tab.Lookup(context.Background(), "bob@example.com")
	if found || KindOf(err) != Temporary {
		t.Errorf("Lookup on a dead server: found %v, error %v; want a Temporary error", found, err)
	}
	tab = openSocketmapTest(t, "socketmap:unix:"+t.TempDir()+"/none:virtual", nil)
	if _, _, err := tab.Lookup(context.Background(), "k"); KindOf(err) != Temporary {
		t.Errorf("Lookup on a missing socket: %v; want a Temporary error", err)
	}
}

// An oversized or non-UTF-8 key is not found without asking, as Postfix.
func TestSocketmapBadKeys(t *testing.T) {
	srv := startServer(t, "tcp", readNetstringReq, socketmapAnswers)
	tab := openSocketmapTest(t, "socketmap:inet:"+srv.addr()+":virtual", nil)
	for _, k := range []string{strings.Repeat("k", socketmapMaxQuery+1), "\xff"} {
		if _, found, err := tab.Lookup(context.Background(), k); found || err != nil {
			t.Errorf("Lookup(%.20q) = %v, %v; want not found", k, found, err)
		}
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("the server was asked %d times", n)
	}
}

// A lookup ends when its context does.
func TestSocketmapContext(t *testing.T) {
	srv := startServer(t, "tcp", readNetstringReq, socketmapAnswers)
	tab := openSocketmapTest(t, "socketmap:inet:"+srv.addr()+":virtual", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := tab.Lookup(ctx, "stall")
	if KindOf(err) != Temporary || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stalled lookup: %v; want a Temporary error wrapping the deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stalled lookup took %v", d)
	}
}

func TestSocketmapOpenErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"socketmap:virtual":                "requires server:socketmap argument",
		"socketmap:inet:127.0.0.1:9999:":   "empty socketmap name",
		"socketmap:tcp:127.0.0.1:9999:map": "want inet:host:port or unix:/path",
		"socketmap:inet:127.0.0.1:map":     "want host:port",
		"socketmap:unix::map":              "needs a socket path",
		"tcp:localhost":                    "want host:port",
		"tcp:127.0.0.1:":                   "want host:port",
	} {
		_, err := Open(context.Background(), spec, nil)
		if err == nil || !strings.Contains(err.Error(), want) || KindOf(err) != Config {
			t.Errorf("Open(%q) = %v; want a Config error saying %q", spec, err, want)
		}
	}
}

func tcpAnswers(req string) string {
	key, ok := strings.CutPrefix(req, "get ")
	if !ok {
		return "500 bad request\n"
	}
	raw, _ := hexUnquote(key)
	switch raw {
	case "bob@example.com":
		return "200 bob@mailbox.example\n"
	case "with space%":
		return "200 " + string(hexQuote("value with space, 100% and é")) + "\n"
	case "Mixed@Example.COM":
		return "200 as%20given\n"
	case "soft":
		return "400 try later\n"
	case "bad":
		return "2x0 what\n"
	case "badcode":
		return "300 redirect\n"
	case "badhex":
		return "200 a%zzb\n"
	case "long":
		return "200 " + strings.Repeat("x", tcpMaxReply) + "\n"
	case "stall":
		return ""
	}
	return "500 not found\n"
}

func TestTCP(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t, "tcp", readTCPReq, tcpAnswers)
	tab, err := Open(ctx, "tcp:"+srv.addr(), &OpenOptions{LookupTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tab.(*TCPTable).Close()
	for _, c := range []struct {
		key   string
		value string
		found bool
		kind  ErrorKind
	}{
		{"bob@example.com", "bob@mailbox.example", true, 0},
		{"with space%", "value with space, 100% and é", true, 0},
		{"Mixed@Example.COM", "as given", true, 0},
		{"nobody@example.com", "", false, 0},
		{"soft", "", false, Temporary},
		{"bad", "", false, Temporary},
		{"badcode", "", false, Temporary},
		{"badhex", "", false, Temporary},
		{"long", "", false, Temporary},
		{"stall", "", false, Temporary},
		{"bob@example.com", "bob@mailbox.example", true, 0},
	} {
		v, found, err := tab.Lookup(ctx, c.key)
		if KindOf(err) != c.kind || (err == nil) != (c.kind == 0) {
			t.Errorf("Lookup(%q): error %v (kind %v), want kind %v", c.key, err, KindOf(err), c.kind)
		}
		if v != c.value || found != c.found {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", c.key, v, found, c.value, c.found)
		}
	}
	reqs := srv.requests()
	if len(reqs) < 2 || reqs[1] != "get with%20space%25" {
		t.Errorf("requests %q: want the second to be \"get with%%20space%%25\"", reqs)
	}
}

func TestTCPDownAndReuse(t *testing.T) {
	ctx := context.Background()
	tab, _ := Open(ctx, "tcp:"+deadAddr(t), nil)
	if _, found, err := tab.Lookup(ctx, "k"); found || KindOf(err) != Temporary {
		t.Errorf("Lookup on a dead server: %v, %v; want a Temporary error", found, err)
	}
	srv := startServer(t, "tcp", readTCPReq, tcpAnswers)
	tab, _ = Open(ctx, "tcp:"+srv.addr(), nil)
	defer tab.(*TCPTable).Close()
	for range 10 {
		if _, ok, err := tab.Lookup(ctx, "bob@example.com"); !ok || err != nil {
			t.Fatalf("Lookup: %v, %v", ok, err)
		}
	}
	tab.Lookup(ctx, "nobody")
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("11 lookups used %d connections, want 1", n)
	}
	tab.Lookup(ctx, "soft") // Postfix hangs up after a 4xx
	tab.Lookup(ctx, "bob@example.com")
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("after a 4xx reply: %d connections, want 2", n)
	}
}

// Close reaches the table through the wrappers of Open.
func TestCloseThroughWrappers(t *testing.T) {
	srv := startServer(t, "tcp", readTCPReq, tcpAnswers)
	inner, _ := Open(context.Background(), "tcp:"+srv.addr(), nil)
	wrapped := Bounded(foldedTable{inner}, time.Second)
	if _, ok, err := wrapped.Lookup(context.Background(), "bob@example.com"); !ok || err != nil {
		t.Fatalf("Lookup: %v, %v", ok, err)
	}
	if err := Close(wrapped); err != nil {
		t.Fatal(err)
	}
	if _, _, err := inner.Lookup(context.Background(), "bob@example.com"); err == nil || !strings.Contains(err.Error(), "table is closed") {
		t.Errorf("Lookup after Close: %v; want \"table is closed\"", err)
	}
	if err := Close(NewMap(nil)); err != nil {
		t.Errorf("Close of a Map: %v", err)
	}
}
