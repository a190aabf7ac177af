package relay

import (
	"context"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

const typesMainCF = `compatibility_level = 3.6
myhostname = mx2.example.net
mynetworks =
relay_domains = example.com
relay_recipient_maps = proxy:dir:/etc/postfix/users.cf
`

// A table type linked in through LoadOptions.Types serves the
// relay_recipient_maps of a main.cf (proxy: prefix dropped), with keys
// folded as Postfix gives them to its fixed-key tables.
func TestLoadLinkedType(t *testing.T) {
	opened := ""
	dir := func(_ context.Context, name string, _ *lookup.OpenOptions) (lookup.Table, error) {
		opened = name
		return lookup.TableFunc(func(_ context.Context, key string) (string, bool, error) {
			return "OK", key == "bob@example.com", nil
		}), nil
	}
	_, addr := loadAndServe(t, typesMainCF, LoadOptions{Types: map[string]lookup.OpenFunc{"dir": dir}})
	if opened != "/etc/postfix/users.cf" {
		t.Errorf("dir: opened with name %q, want /etc/postfix/users.cf", opened)
	}
	c := startTransaction(t, addr, "sender@elsewhere.example")
	if err := c.Rcpt("Bob@Example.COM", nil); err != nil {
		t.Fatalf("RCPT Bob@Example.COM: %v", err)
	}
	if err := c.Rcpt("mallory@example.com", nil); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("RCPT mallory@example.com: %v, want 550", err)
	}
}

// Without the type linked in, Load refuses the main.cf and names the type.
func TestLoadUnlinkedTypeRefused(t *testing.T) {
	cf, err := maincf.Parse(strings.NewReader(typesMainCF), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	o := LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}, InterfaceAddrs: loopbackOnly}
	_, err = Load(context.Background(), cf, o)
	if err == nil || !strings.Contains(err.Error(), "unsupported dictionary type: dir") {
		t.Fatalf("Load = %v, want an error naming the type dir", err)
	}
}

// Tables given by spec win for their spec; other names of the same type
// reach the linked type.
func TestLinkedTypesTablesWin(t *testing.T) {
	given := lookup.NewMap(map[string]string{"k": "given"})
	linked := func(_ context.Context, name string, _ *lookup.OpenOptions) (lookup.Table, error) {
		return lookup.NewMap(map[string]string{"k": "linked:" + name}), nil
	}
	types := linkedTypes(map[string]lookup.OpenFunc{"dir": linked}, map[string]lookup.Table{"dir:a": given})
	o := &lookup.OpenOptions{Types: types}
	for spec, want := range map[string]string{"dir:a": "given", "dir:b": "linked:b"} {
		tab, err := lookup.Open(context.Background(), spec, o)
		if err != nil {
			t.Fatal(err)
		}
		if v, _, _ := tab.Lookup(context.Background(), "k"); v != want {
			t.Errorf("%s: k = %q, want %q", spec, v, want)
		}
	}
}
