package policy_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/relay"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// goldenSession is one SMTP session of a golden "cases" file, parsed as
// gen.py parses it.
type goldenSession struct {
	client, name, helo, sender string
	rcpts                      []string
}

func parseCases(t *testing.T, path string) []goldenSession {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	client, name, helo, sender := "127.0.0.1", "", "client.example", "<sender@sender.example>"
	var out []goldenSession
	cur := -1
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimLeft(line, " \t"), "#") {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		switch word {
		case "client":
			f := strings.Fields(rest)
			client, name = f[0], ""
			if len(f) > 1 {
				name = f[1]
			}
			cur = -1
		case "helo":
			helo, cur = strings.TrimSpace(rest), -1
		case "sender":
			sender, cur = strings.TrimSpace(rest), -1
		case "split":
			cur = -1
		default:
			if cur < 0 {
				out = append(out, goldenSession{client: client, name: name, helo: helo, sender: sender})
				cur = len(out) - 1
			}
			out[cur].rcpts = append(out[cur].rcpts, line)
		}
	}
	return out
}

// splitPath splits an SMTP MAIL/RCPT argument into the path and its ESMTP
// parameters, as an SMTP server does before asking policy.
func splitPath(arg string) (path string, params map[string]string) {
	path, rest := arg, ""
	if i := strings.LastIndexByte(arg, '>'); strings.HasPrefix(arg, "<") && i > 0 {
		path, rest = arg[:i+1], arg[i+1:]
	} else if i := strings.IndexByte(arg, ' '); i >= 0 && !strings.HasPrefix(arg, "<") {
		path, rest = arg[:i], arg[i:]
	}
	params = map[string]string{}
	for _, f := range strings.Fields(rest) {
		k, v, _ := strings.Cut(f, "=")
		params[strings.ToUpper(k)] = v
	}
	return path, params
}

// goldenPolicyServer answers like gen.py's PolicyServer: by the recipient's
// localpart from policy.map; "!close" closes without replying, "!garbage"
// sends a line that is not an attribute.
type goldenPolicyServer struct {
	ln    net.Listener
	rules map[string]string
	mu    sync.Mutex
	reqs  [][]string // attribute names of every request
	rcpts []string   // the recipient attribute of every request
	wg    sync.WaitGroup
}

func startGoldenPolicyServer(t *testing.T, mapFile string) *goldenPolicyServer {
	t.Helper()
	s := &goldenPolicyServer{rules: map[string]string{}}
	if data, err := os.ReadFile(mapFile); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, _ := strings.Cut(line, " ")
			s.rules[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *goldenPolicyServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		var names []string
		attrs := map[string]string{}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\n")
			if line == "" {
				break
			}
			k, v, _ := strings.Cut(line, "=")
			names = append(names, k)
			attrs[k] = v
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, names)
		s.rcpts = append(s.rcpts, attrs["recipient"])
		s.mu.Unlock()
		local := attrs["recipient"]
		if i := strings.LastIndexByte(local, '@'); i >= 0 {
			local = local[:i]
		}
		action, ok := s.rules[strings.ToLower(local)]
		if !ok {
			action = "DUNNO"
		}
		switch action {
		case "!close":
			return
		case "!garbage":
			c.Write([]byte("this is not an attribute\n\n"))
		default:
			c.Write([]byte("action=" + action + "\n\n"))
		}
	}
}

// goldenRoutes answers Config.Routes from transport_maps the way trivial-rewrite
// does for error: and retry: entries (the test stands in for transport,
// which policy must not import).
func goldenRoutes(t *testing.T, spec, delim string) policy.Routes {
	t.Helper()
	var tables []lookup.Table
	for _, s := range lookup.SplitList(spec) {
		tab, err := lookup.Open(context.Background(), s, nil)
		if err != nil {
			t.Fatal(err)
		}
		tables = append(tables, tab)
	}
	return policy.RoutesFunc(func(ctx context.Context, rcpt string) (string, string, error) {
		keys := lookup.AppendTransportKeys(nil, rcpt, lookup.KeyOptions{Delimiters: delim})
		r, found, err := lookup.Search(ctx, tables, keys)
		if err != nil || !found {
			return "smtp", "", err
		}
		tr, nh, _ := strings.Cut(r.Value, ":")
		return tr, nh, nil
	})
}

// goldenConfig reads base.cf and CONF/main.cf as gen.py combines them.
func goldenConfig(t *testing.T, dir, policyAddr string) (policy.Config, map[string]string) {
	t.Helper()
	base, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "base.cf"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(base) + "\n"
	if b, err := os.ReadFile(filepath.Join(dir, "main.cf")); err == nil {
		text += string(b)
	}
	text = strings.ReplaceAll(text, "@CONF@", dir)
	text = strings.ReplaceAll(text, "@POLICY@", policyAddr)
	cf, err := maincf.Parse(strings.NewReader(text), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	// The lab's Postfix has the loopback addresses (mynetworks_style =
	// host); the test must not depend on this machine's interfaces.
	cf.InterfaceAddrs = func() ([]netip.Prefix, error) {
		return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}, nil
	}
	c, err := relay.PolicyConfig(cf)
	if err != nil {
		t.Fatal(err)
	}
	// tcp: tables in the corpus point at 127.0.0.1:1, where nothing
	// listens: Postfix's lookups fail temporarily, and so do ours.
	c.Open = &lookup.OpenOptions{Types: map[string]lookup.OpenFunc{
		"tcp": func(ctx context.Context, name string, _ *lookup.OpenOptions) (lookup.Table, error) {
			return lookup.TableFunc(func(ctx context.Context, key string) (string, bool, error) {
				return "", false, &lookup.Error{Table: "tcp:" + name, Key: key, Kind: lookup.Temporary, Err: errors.New("connection refused")}
			}), nil
		},
	}}
	if tm := cf.Get("transport_maps"); tm != "" {
		c.Routes = goldenRoutes(t, tm, cf.Get("recipient_delimiter"))
	}
	params := map[string]string{}
	for _, n := range cf.Names() {
		params[n] = cf.Get(n)
	}
	return c, params
}

// replyCodes splits "550 5.1.1 text" into its parts.
func replyCodes(reply string) (code int, dsn, text string) {
	f := strings.SplitN(reply, " ", 3)
	code, _ = strconv.Atoi(f[0])
	if len(f) > 1 {
		dsn = f[1]
	}
	if len(f) > 2 {
		text = f[2]
	}
	return
}

// deliberate lists the golden cases policy answers differently from
// Postfix on purpose, with our answer. Each is explained in doc.go
// ("Deliberate differences").
var deliberate = map[string]string{
	// RFC 5321 address literals have 1-3 digit decimal octets; Postfix
	// reads "0177" as octal 127 (so this is its own address).
	"addr <u@[0177.0.0.1]>": "501 5.1.3 Bad recipient address syntax",
	// Postfix's resolver drops a trailing '@'; we refuse the address.
	"addr <u@backup.example@>": "501 5.1.3 Bad recipient address syntax",
	// A domain-list entry with a trailing dot ("dotted.example.") matches
	// nothing in Postfix; lookup's lists ignore the dot (and policy warns).
	"lists <u@dotted.example>":     "250 2.1.5 Ok",
	"lists <u@dotted.example.>":    "250 2.1.5 Ok",
	"lists <u@sub.dotted.example>": "250 2.1.5 Ok",
}

// TestGolden replays the RCPT corpus recorded from Postfix 3.7's smtpd
// (testdata/golden, made by gen.py) and requires the same reply code,
// enhanced status code and text for every recipient.
func TestGolden(t *testing.T) {
	root, err := filepath.Abs("testdata/golden")
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	used := map[string]bool{}
	ran, configs := 0, 0
	for _, de := range dirs {
		dir := filepath.Join(root, de.Name())
		if _, err := os.Stat(filepath.Join(dir, "cases")); err != nil {
			continue
		}
		total += len(readWant(t, filepath.Join(dir, "want.txt")))
		configs++
		t.Run(de.Name(), func(t *testing.T) {
			ran++
			srv := startGoldenPolicyServer(t, filepath.Join(dir, "policy.map"))
			c, _ := goldenConfig(t, dir, "inet:"+srv.ln.Addr().String())
			p, err := policy.New(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			want := readWant(t, filepath.Join(dir, "want.txt"))
			n := 0
			for _, sess := range parseCases(t, filepath.Join(dir, "cases")) {
				senderPath, mailParams := splitPath(sess.sender)
				size, _ := strconv.ParseInt(mailParams["SIZE"], 10, 64)
				_, smtputf8 := mailParams["SMTPUTF8"]
				discard, ended, accepted := false, false, 0
				for _, rcpt := range sess.rcpts {
					if n >= len(want) {
						t.Fatalf("more cases than rows in want.txt")
					}
					w := want[n]
					n++
					if w.rcpt != rcpt || w.client != sess.client || w.sender != sess.sender {
						t.Fatalf("cases and want.txt disagree at row %d: %q vs %q", n, rcpt, w.rcpt)
					}
					if ended {
						if w.reply != "(disconnected)" {
							t.Errorf("%s: we ended the session, Postfix answered %q", rcpt, w.reply)
						}
						continue
					}
					path, _ := splitPath(rcpt)
					req := &policy.Request{
						Stage: policy.StageRcpt, ClientAddr: netip.MustParseAddr(strings.TrimPrefix(sess.client, "IPv6:")), ClientName: sess.name,
						Helo: sess.helo, Sender: senderPath, Recipient: path, Size: size,
						RecipientCount: accepted, Discard: discard, SMTPUTF8: smtputf8,
					}
					d := p.Check(context.Background(), req)
					if w.reply == "(disconnected)" {
						t.Errorf("%s: Postfix had ended the session, we answered %q", rcpt, d.Reply())
						continue
					}
					if ours, ok := deliberate[de.Name()+" "+rcpt]; ok {
						used[de.Name()+" "+rcpt] = true
						if d.Reply() != ours || w.reply == ours {
							t.Errorf("%s: deliberate difference: we answer %q (want %q), Postfix %q", rcpt, d.Reply(), ours, w.reply)
						}
						continue
					}
					code, dsn, text := replyCodes(w.reply)
					if d.Code != code || d.Enhanced != dsn {
						t.Errorf("%s (client %s, sender %s): got %d %s, Postfix %d %s\n  got:  %s\n  want: %s\n  reason: %v err: %v",
							rcpt, sess.client, sess.sender, d.Code, d.Enhanced, code, dsn, d.Reply(), w.reply, d.Reason, d.Err)
					} else if d.Text != text {
						t.Errorf("%s: text differs\n  got:  %s\n  want: %s", rcpt, d.Reply(), w.reply)
					}
					if d.Verdict == policy.Permit {
						accepted++
					}
					discard = discard || d.Discard
					ended = d.EndSession
				}
			}
			if n != len(want) {
				t.Errorf("%d rows in want.txt, %d cases", len(want), n)
			}
			checkPolicyRequests(t, dir, srv)
		})
	}
	if ran == configs { // every configuration ran: no -run filter
		for k := range deliberate {
			if !used[k] {
				t.Errorf("deliberate difference %q matches no golden case", k)
			}
		}
	}
	if total < 150 {
		t.Errorf("only %d golden cases", total)
	}
}

type wantRow struct{ client, name, helo, sender, rcpt, reply string }

func readWant(t *testing.T, path string) []wantRow {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []wantRow
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 6 {
			t.Fatalf("%s: bad row %q", path, line)
		}
		rows = append(rows, wantRow{f[0], f[1], f[2], f[3], f[4], f[5]})
	}
	return rows
}

// checkPolicyRequests compares the attribute order we send with the one
// Postfix sent (policy_requests.txt).
func checkPolicyRequests(t *testing.T, dir string, srv *goldenPolicyServer) {
	data, err := os.ReadFile(filepath.Join(dir, "policy_requests.txt"))
	if err != nil {
		return
	}
	var order, rcpts []string
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "order "); ok {
			order = strings.Fields(rest)
		}
		if rest, ok := strings.CutPrefix(line, "recipient "); ok {
			rcpts = append(rcpts, rest)
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.reqs) == 0 {
		t.Fatal("the policy server was never asked")
	}
	for _, names := range srv.reqs {
		if strings.Join(names, " ") != strings.Join(order, " ") {
			t.Fatalf("policy request attributes:\n got  %v\n want %v", names, order)
		}
	}
	// Which RCPTs reached the policy server, in order, and the
	// recipient attribute each carried (Postfix's internal form). One
	// deliberate difference (doc.go): a server that closes a reused
	// connection without replying ("!close") gets one request more,
	// since policy retries a reused connection that ends before any
	// reply without counting it as an attempt.
	got, want := closeRuns(srv.rcpts, srv.rules), closeRuns(rcpts, srv.rules)
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		same = got[i].rcpt == want[i].rcpt && (got[i].n == want[i].n || got[i].n == want[i].n+1 && got[i].closed)
	}
	if !same {
		t.Errorf("policy requests' recipients:\n got  %q\n want %q", srv.rcpts, rcpts)
	}
}

// rcptRun is a run of policy requests for one recipient.
type rcptRun struct {
	rcpt   string
	n      int
	closed bool // the server closes the connection for this recipient
}

// closeRuns groups consecutive requests for a recipient whose policy.map
// action is "!close" (retries); other requests stay one run each.
func closeRuns(rcpts []string, rules map[string]string) []rcptRun {
	var runs []rcptRun
	for _, r := range rcpts {
		local := r
		if i := strings.LastIndexByte(local, '@'); i >= 0 {
			local = local[:i]
		}
		closed := rules[strings.ToLower(local)] == "!close"
		if n := len(runs); closed && n > 0 && runs[n-1].rcpt == r && runs[n-1].closed {
			runs[n-1].n++
			continue
		}
		runs = append(runs, rcptRun{rcpt: r, n: 1, closed: closed})
	}
	return runs
}
