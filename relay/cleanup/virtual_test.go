package cleanup

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
)

// mapTable is a table of lower-case keys, asked folded keys as the
// relay's tables are (lookup.Table).
func mapTable(m map[string]string) lookup.Table {
	return lookup.TableFunc(func(_ context.Context, key string) (string, bool, error) {
		v, ok := m[lookup.FoldKey(key)]
		return v, ok, nil
	})
}

// TestVirtualAlias covers cleanup_map1n.c's rules one by one; the lab
// goldens (relay's TestCleanupLab) cover them against Postfix.
func TestVirtualAlias(t *testing.T) {
	table := mapTable(map[string]string{
		"list@a.test":  "x@b.test, y@b.test z@b.test",
		"nest@a.test":  "list@a.test w@b.test",
		"self@a.test":  "self@a.test copy@b.test",
		"one@a.test":   "one@b.test",
		"at@a.test":    "@b.test",
		"bare@a.test":  "local",
		"@c.test":      "catch@b.test",
		"loop1@a.test": "loop2@a.test",
		"loop2@a.test": "loop1@a.test",
		"empty@a.test": "(nothing here)",
		"local@origin": "deep@b.test",
		"localuser":    "never@b.test",
	})
	cl, err := New(Config{VirtualAlias: []lookup.Table{table}, PropagateVirtual: true, MyOrigin: "origin",
		Keys: lookup.KeyOptions{Delimiters: "+"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"list@a.test", []string{"x@b.test", "y@b.test", "z@b.test"}},
		{"nest@a.test", []string{"x@b.test", "w@b.test", "y@b.test", "z@b.test"}},
		{"self@a.test", []string{"self@a.test", "copy@b.test"}},
		{"one+tag@a.test", []string{"one+tag@b.test"}},
		{"at+tag@a.test", []string{"at@b.test"}},
		{"bare@a.test", []string{"deep@b.test"}}, // local@origin is looked up again
		{"who+tag@c.test", []string{"catch@b.test"}},
		{"nobody@a.test", []string{"nobody@a.test"}},
		{"localuser@elsewhere.test", []string{"localuser@elsewhere.test"}}, // no bare key outside local domains
	} {
		got, err := cl.VirtualAlias(context.Background(), "Q1", tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"loop1@a.test", "empty@a.test"} {
		var ce *Error
		if _, err := cl.VirtualAlias(context.Background(), "Q1", in); !errors.As(err, &ce) || ce.Code != 451 || ce.Status != "4.6.0" || ce.Message != "Alias expansion error" {
			t.Errorf("%s: got %v, want 451 4.6.0 Alias expansion error", in, err)
		}
	}
}

// TestVirtualAliasLimits: the expansion and recursion limits count as
// Postfix counts them (golden valimits: limit 2 refuses a two-step alias,
// limit 3 refuses four addresses).
func TestVirtualAliasLimits(t *testing.T) {
	table := mapTable(map[string]string{
		"d1@a.test": "x@b.test", "d2@a.test": "d1@a.test",
		"three@a.test": "a@b.test b@b.test c@b.test", "four@a.test": "a@b.test b@b.test c@b.test d@b.test",
	})
	cl, err := New(Config{VirtualAlias: []lookup.Table{table}, RecursionLimit: 2, ExpansionLimit: 3, AddressLengthLimit: 8})
	if err != nil {
		t.Fatal(err)
	}
	for in, ok := range map[string]bool{"d1@a.test": true, "d2@a.test": false, "three@a.test": true, "four@a.test": false} {
		_, err := cl.VirtualAlias(context.Background(), "Q1", in)
		if (err == nil) != ok {
			t.Errorf("%s: got %v, want success %v", in, err, ok)
		}
	}
	long := mapTable(map[string]string{"l@a.test": "muchtoolong@b.test"})
	cl, _ = New(Config{VirtualAlias: []lookup.Table{long}, AddressLengthLimit: 8})
	if _, err := cl.VirtualAlias(context.Background(), "Q1", "l@a.test"); err == nil {
		t.Error("an address over virtual_alias_address_length_limit was accepted")
	}
}

// TestVirtualAliasTableFailure: a failing table refuses the message
// (451), it never passes the recipient on unexpanded.
func TestVirtualAliasTableFailure(t *testing.T) {
	broken := lookup.TableFunc(func(context.Context, string) (string, bool, error) {
		return "", false, &lookup.Error{Table: "pgsql:x", Kind: lookup.Temporary, Err: errors.New("connection refused")}
	})
	cl, _ := New(Config{VirtualAlias: []lookup.Table{broken}})
	rcpts, err := cl.Recipients(context.Background(), "Q1", []string{"a@b.test"})
	var ce *Error
	if !errors.As(err, &ce) || !ce.Temporary() || rcpts != nil {
		t.Fatalf("got %v, %v; want a temporary *Error", rcpts, err)
	}
}
