package lookup

import (
	"context"
	"testing"
)

type asGiven struct{ TableFunc }

func (asGiven) KeysAsGiven() {}

func TestFolded(t *testing.T) {
	ctx := context.Background()
	var got string
	tf := TableFunc(func(_ context.Context, key string) (string, bool, error) {
		got = key
		return "OK", true, nil
	})
	f := Folded(tf)
	if _, _, err := f.Lookup(ctx, "Bob+Tag@Example.COM"); err != nil || got != "bob+tag@example.com" {
		t.Errorf("Folded table asked %q (%v), want bob+tag@example.com", got, err)
	}
	f.Lookup(ctx, "Straße@EXAMPLE.com")
	if got != "strasse@example.com" {
		t.Errorf("Folded table asked %q, want strasse@example.com", got)
	}
	if ff, ok := Folded(f).(foldedTable); !ok || func() bool { _, again := ff.t.(foldedTable); return again }() {
		t.Error("Folded wraps a folded table again")
	}
	m := NewMap(map[string]string{"a": "b"})
	if Folded(m) != Table(m) {
		t.Error("Folded wraps a *Map")
	}
	g := asGiven{tf}
	if _, ok := Folded(g).(asGiven); !ok {
		t.Error("Folded wraps a KeysAsGiven table")
	}
	if Folded(nil) != nil {
		t.Error("Folded(nil) is not nil")
	}

	// Tables of OpenOptions.Types are folded; built-ins as they are.
	o := &OpenOptions{Types: map[string]OpenFunc{"http": func(context.Context, string, *OpenOptions) (Table, error) { return tf, nil }}}
	ot, err := Open(ctx, "http:users", o)
	if err != nil {
		t.Fatal(err)
	}
	ot.Lookup(ctx, "@Example.COM")
	if got != "@example.com" {
		t.Errorf("a table of OpenOptions.Types asked %q, want @example.com", got)
	}
	if Name(ot) != Name(tf) {
		t.Errorf("Name of the folded table = %q, want %q", Name(ot), Name(tf))
	}
}
