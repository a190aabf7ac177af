package lookup

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestPatternWarningsArePostmaps: rules Postfix skips (an unknown flag, a
// stray ENDIF) and an IF left open are warnings, not a table that fails to
// load, worded as postmap words them (the .warnings files are postmap's
// stderr, gen.sh).
func TestPatternWarningsArePostmaps(t *testing.T) {
	t.Chdir("testdata/postmapq")
	for spec, golden := range map[string]string{
		"regexp:edge.regexp": "edge.warnings",
		"cidr:edge.cidr":     "edge.cidr.warnings",
		"pcre:edge.pcre":     "edge.pcre.warnings",
		"pcre:pat.pcre":      "pat.warnings",
	} {
		tab, err := Open(context.Background(), spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		for _, w := range tab.(Warner).Warnings() {
			got.WriteString("postmap: warning: " + w.String() + "\n")
		}
		want, _ := os.ReadFile(golden)
		if got.String() != string(want) {
			t.Errorf("%s warnings:\n%s\npostmap's:\n%s", spec, got.String(), want)
		}
	}
}

// TestRegexpNoResult: a rule without a result loads with postmap's warning;
// a key it matches is a Config error (postmap: "empty string result is not
// allowed"), other keys are answered.
func TestRegexpNoResult(t *testing.T) {
	ctx := context.Background()
	t.Chdir("testdata/postmapq")
	tab, err := Open(ctx, "regexp:nores.regexp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := tab.(Warner).Warnings(); len(w) != 1 || w[0].String() != "regexp map nores.regexp, line 1: no replacement text: using empty string" {
		t.Errorf("warnings = %v", w)
	}
	if _, _, err := tab.Lookup(ctx, "nores"); !errors.Is(err, ErrEmptyValue) || KindOf(err) != Config {
		t.Errorf("Lookup(nores) error = %v, want a Config ErrEmptyValue", err)
	}
	if v, ok, err := tab.Lookup(ctx, "bb"); v != "b" || !ok || err != nil {
		t.Errorf("Lookup(bb) = %q %v %v", v, ok, err)
	}
}
