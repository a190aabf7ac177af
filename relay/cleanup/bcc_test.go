package cleanup

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
)

// TestEnvelopeBcc: the order of Postfix's cleanup (the sender's BCC,
// each recipient then its BCC, always_bcc last), BCC addresses through
// the local rewrite, canonical maps and virtual aliases, duplicates of
// one BCC dropped, no always_bcc without recipients.
func TestEnvelopeBcc(t *testing.T) {
	cl, err := New(Config{
		AlwaysBcc:    "archive@o.test",
		SenderBcc:    []lookup.Table{mapTable(map[string]string{"boss@s.test": "bosscopy@o.test"})},
		RecipientBcc: []lookup.Table{mapTable(map[string]string{"w@d.test": "watch", "w2@d.test": "watch", "@alias.test": "list@d.test"})},
		VirtualAlias: []lookup.Table{mapTable(map[string]string{"list@d.test": "x@o.test, y@o.test"})},
		MyOrigin:     "mx.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	sender, got, err := cl.Envelope(context.Background(), "Q", "boss@s.test", []string{"w@d.test", "w2@d.test", "u@alias.test"})
	if err != nil || sender != "boss@s.test" {
		t.Fatal(sender, err)
	}
	want := "[{bosscopy@o.test bosscopy@o.test true} {w@d.test w@d.test false} {watch@mx.test watch@mx.test true} {w2@d.test w2@d.test false} {u@alias.test u@alias.test false} {x@o.test list@d.test true} {y@o.test list@d.test true} {archive@o.test archive@o.test true}]"
	if s := fmt.Sprint(got); s != want {
		t.Errorf("got  %s\nwant %s", s, want)
	}
	if _, got, _ := cl.Envelope(context.Background(), "Q", "", nil); len(got) != 0 {
		t.Errorf("always_bcc without recipients: %v", got)
	}
	broken := lookup.TableFunc(func(context.Context, string) (string, bool, error) {
		return "", false, &lookup.Error{Table: "tcp:x", Kind: lookup.Temporary, Err: errors.New("down")}
	})
	cl, _ = New(Config{SenderBcc: []lookup.Table{broken}})
	var ce *Error
	if _, _, err := cl.Envelope(context.Background(), "Q", "a@b.test", []string{"c@d.test"}); !errors.As(err, &ce) || ce.Code != 451 || ce.Status != "4.3.0" {
		t.Errorf("a failing sender_bcc_maps: %v", err)
	}
}
