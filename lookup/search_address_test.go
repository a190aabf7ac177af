package lookup

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestSearchAddress: a regexp: table is asked only the complete address
// (it would match "@example.com" here), other tables every key, in key
// order across the tables.
func TestSearchAddress(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "re")
	os.WriteFile(path, []byte("/example\\.com/ pattern\n"), 0o644)
	re, err := Open(context.Background(), "regexp:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	fixed := TableFunc(func(_ context.Context, k string) (string, bool, error) { return "fixed", k == "@example.com", nil })
	keys := []Key{{"user@example.org", KeyAddress}, {"@example.com", KeyAtDomain}}
	r, found, err := SearchAddress(context.Background(), []Table{re, fixed}, keys)
	if err != nil || !found || r.Value != "fixed" || r.Table != 1 {
		t.Errorf("got %+v %v %v, want the fixed table's @domain answer", r, found, err)
	}
	keys[0].Key = "user@example.com"
	if r, found, _ := SearchAddress(context.Background(), []Table{re, fixed}, keys); !found || r.Value != "pattern" {
		t.Errorf("got %+v, want the pattern answer for the complete address", r)
	}
}
