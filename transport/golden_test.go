package transport

import (
	"bufio"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"

	"github.com/mxrelay/mxrelay/lookup"
)

// mainCF reads the key = value lines of a main.cf, with continuation lines
// and $name expansion of earlier parameters.
func mainCF(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := map[string]string{}
	var last string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") || strings.TrimSpace(line) == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			p[last] += " " + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", path, line)
		}
		last = strings.TrimSpace(k)
		p[last] = strings.TrimSpace(v)
	}
	dir := filepath.Dir(path)
	for k, v := range p {
		v = strings.ReplaceAll(v, "@DIR@", dir)
		p[k] = os.Expand(v, func(name string) string { return p[name] })
	}
	return p
}

// routerFromMainCF builds the Router a main.cf describes.
func routerFromMainCF(t *testing.T, p map[string]string) *Router {
	t.Helper()
	ctx := context.Background()
	list := func(name string, parent bool) *lookup.List {
		l, _, err := lookup.ParseList(ctx, p[name], lookup.ListOptions{Name: name, ParentStyle: parent})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return l
	}
	doms := &lookup.Domains{
		MyDestination:         list("mydestination", false),
		VirtualAliasDomains:   list("virtual_alias_domains", false),
		VirtualMailboxDomains: list("virtual_mailbox_domains", false),
		RelayDomains:          list("relay_domains", true), // in parent_domain_matches_subdomains
		// inet_interfaces = loopback-only, inet_protocols = ipv4
		Interfaces: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
	}
	var tables []lookup.Table
	for _, spec := range strings.FieldsFunc(p["transport_maps"], func(r rune) bool { return r == ',' || r == ' ' }) {
		tb, err := lookup.Open(ctx, spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		tables = append(tables, tb)
	}
	r, err := NewRouter(RouterConfig{
		Domains:          doms,
		TransportMaps:    tables,
		Keys:             lookup.KeyOptions{Delimiters: p["recipient_delimiter"]},
		MyHostname:       p["myhostname"],
		LocalTransport:   p["local_transport"],
		VirtualTransport: p["virtual_transport"],
		RelayTransport:   p["relay_transport"],
		DefaultTransport: p["default_transport"],
		Relayhost:        p["relayhost"],
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var answerRE = regexp.MustCompile(`^(\S+) -> (\S*?):(.*) rcpt=\S* \[([A-Z,]+)\]$`)

var classNames = map[string]lookup.Class{
	"LOCAL": lookup.ClassLocal, "ALIAS": lookup.ClassAlias, "VIRTUAL": lookup.ClassVirtual,
	"RELAY": lookup.ClassRelay, "DEFAULT": lookup.ClassDefault,
}

// TestRoutingMatchesPostfix compares our routing with the answers of real
// Postfix 3.7 (trivial-rewrite, via resolve.py) committed under
// testdata/postfix: every address of every configuration.
func TestRoutingMatchesPostfix(t *testing.T) {
	confs, _ := filepath.Glob("testdata/postfix/*/main.cf")
	if len(confs) < 4 {
		t.Fatalf("golden configurations missing: %v", confs)
	}
	total := 0
	for _, cf := range confs {
		dir := filepath.Dir(cf)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r := routerFromMainCF(t, mainCF(t, cf))
			f, err := os.Open(filepath.Join(dir, "answers"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				m := answerRE.FindStringSubmatch(sc.Text())
				if m == nil {
					t.Fatalf("bad answer line %q", sc.Text())
				}
				addr, want := m[1], m[2]+":"+m[3]
				var wantClass lookup.Class
				for _, fl := range strings.Split(m[4], ",") {
					if c, ok := classNames[fl]; ok {
						wantClass = c
					}
				}
				got, err := r.Route(context.Background(), addr)
				if err != nil {
					t.Errorf("%s: %v", addr, err)
					continue
				}
				if got.String() != want || got.Class != wantClass {
					t.Errorf("%s: got %s [%v], Postfix %s [%v]", addr, got, got.Class, want, wantClass)
				}
				total++
			}
		})
	}
	if total < 40 {
		t.Fatalf("only %d golden addresses", total)
	}
}

// TestGoldenAnswersCurrent regenerates the answers with the installed
// Postfix and checks they equal the committed ones. Skipped without
// Postfix unless CI is set.
func TestGoldenAnswersCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	testenv.NeedProgram(t, "/usr/lib/postfix/sbin/trivial-rewrite")
	testenv.NeedProgram(t, "script")
	resolve := "/work/shared/tools/postfix/resolve.py"
	if v := os.Getenv("POSTFIX_RESOLVE"); v != "" {
		resolve = v
	}
	if _, err := os.Stat(resolve); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("resolve.py: %v", err)
		}
		t.Skip("resolve.py not found (set POSTFIX_RESOLVE)")
	}
	tmp := t.TempDir()
	if err := exec.Command("cp", "-r", "testdata/postfix", tmp).Run(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "generate.sh", resolve)
	cmd.Dir = filepath.Join(tmp, "postfix")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, out)
	}
	confs, _ := filepath.Glob("testdata/postfix/*/answers")
	for _, a := range confs {
		want, _ := os.ReadFile(a)
		got, err := os.ReadFile(filepath.Join(tmp, "postfix", filepath.Base(filepath.Dir(a)), "answers"))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s is stale; Postfix now says:\n%s", a, got)
		}
	}
}
