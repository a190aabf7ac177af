package transport

import (
	"context"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
)

// A transport_maps table of the caller's is asked folded keys, as Postfix
// asks its fixed-key tables: a map of lower-case domains routes a
// mixed-case recipient.
func TestTransportMapsKeysFolded(t *testing.T) {
	var asked []string
	routes := map[string]string{"example.test": "relay:[h1.test]:2525"}
	rt, err := NewRouter(RouterConfig{TransportMaps: []lookup.Table{lookup.TableFunc(func(_ context.Context, key string) (string, bool, error) {
		asked = append(asked, key)
		v, ok := routes[key]
		return v, ok, nil
	})}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := rt.Route(context.Background(), "Bob+Tag@Example.TEST")
	if err != nil {
		t.Fatal(err)
	}
	if r.Transport != "relay" || r.Nexthop != "[h1.test]:2525" {
		t.Errorf("route %+v (keys asked %q)", r, asked)
	}
	for _, k := range asked {
		if k != lookup.FoldKey(k) {
			t.Errorf("transport_maps asked %q, not folded", k)
		}
	}
}
