package cleanup

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
)

// TestCanonical covers cleanup_map11.c's rules: a chain is followed, a
// multi-valued entry gives its first address, an entry that maps to
// itself stops, ten rewrites at most, the classes choose what is
// rewritten, the null sender is never mapped.
func TestCanonical(t *testing.T) {
	chain := map[string]string{}
	for i := range 12 {
		chain[fmt.Sprintf("n%d@a.test", i)] = fmt.Sprintf("n%d@a.test", i+1)
	}
	canon := mapTable(map[string]string{
		"old@a.test": "new@a.test", "c1@a.test": "c2@a.test", "c2@a.test": "c3@a.test",
		"multi@a.test": "x@a.test, y@a.test", "self@a.test": "SELF@a.test", "@olddomain.test": "@a.test",
	})
	sender := mapTable(map[string]string{"s@a.test": "snew@a.test", "old@a.test": "sender-only@a.test"})
	cl, err := New(Config{Canonical: []lookup.Table{canon, mapTable(chain)}, SenderCanonical: []lookup.Table{sender},
		PropagateCanonical: true, Keys: lookup.KeyOptions{Delimiters: "+"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for in, want := range map[string]string{
		"old@a.test": "new@a.test", "c1@a.test": "c3@a.test", "multi@a.test": "x@a.test", "self@a.test": "SELF@a.test",
		"u@olddomain.test": "u@a.test", "old+ext@a.test": "new+ext@a.test", "n0@a.test": "n10@a.test", "none@a.test": "none@a.test",
	} {
		got, err := cl.Recipients(ctx, "Q", []string{in})
		if err != nil || len(got) != 1 || got[0].Address != want || got[0].Original != in {
			t.Errorf("recipient %s: got %+v, %v; want %s", in, got, err, want)
		}
	}
	// sender_canonical_maps first, then canonical_maps.
	for in, want := range map[string]string{"s@a.test": "snew@a.test", "old@a.test": "sender-only@a.test", "c1@a.test": "c3@a.test", "": ""} {
		if got, err := cl.Sender(ctx, "Q", in); err != nil || got != want {
			t.Errorf("sender %q: got %q, %v; want %q", in, got, err, want)
		}
	}
	// canonical_classes = envelope_recipient: the sender is left alone.
	cl, _ = New(Config{Canonical: []lookup.Table{canon}, CanonicalClasses: EnvelopeRecipient})
	if got, _ := cl.Sender(ctx, "Q", "old@a.test"); got != "old@a.test" {
		t.Errorf("sender rewritten outside canonical_classes: %q", got)
	}
	if got, _ := cl.Recipients(ctx, "Q", []string{"old@a.test"}); got[0].Address != "new@a.test" {
		t.Errorf("recipient not rewritten: %+v", got)
	}
	cl, _ = New(Config{Canonical: []lookup.Table{canon}, CanonicalClasses: NoClasses})
	if got, _ := cl.Recipients(ctx, "Q", []string{"old@a.test"}); got[0].Address != "old@a.test" {
		t.Errorf("canonical_classes = (empty) rewrote %+v", got)
	}
}

// TestCanonicalFailure: a failing canonical table refuses the message
// with Postfix's 451 4.3.0 queue file write error.
func TestCanonicalFailure(t *testing.T) {
	broken := lookup.TableFunc(func(context.Context, string) (string, bool, error) {
		return "", false, &lookup.Error{Table: "tcp:x", Kind: lookup.Temporary, Err: errors.New("timeout")}
	})
	cl, _ := New(Config{RecipientCanonical: []lookup.Table{broken}})
	_, err := cl.Recipients(context.Background(), "Q", []string{"a@b.test"})
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != 451 || ce.Status != "4.3.0" || ce.Message != "Error: queue file write error" {
		t.Fatalf("got %v", err)
	}
}

func TestParseClasses(t *testing.T) {
	for in, want := range map[string]Classes{
		"envelope_sender, header_recipient": EnvelopeSender | HeaderRecipient, "": NoClasses,
		"ENVELOPE_RECIPIENT": EnvelopeRecipient,
	} {
		if got, err := ParseClasses(in); err != nil || got != want {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseClasses("envelope_sender, headers"); err == nil {
		t.Error("an unknown class was accepted")
	}
}
