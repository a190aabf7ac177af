package cleanup

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/lookup"
)

// TestHeader rewrites address headers as Postfix 3.7 did for a local
// client (the lab golden canonlocal has the same cases end to end).
func TestHeader(t *testing.T) {
	canon := mapTable(map[string]string{"old@dest.test": "new@dest.test", "env@sender.test": "envnew@sender.test"})
	cl, err := New(Config{Canonical: []lookup.Table{canon}, MyOrigin: "mx2.oracle.test", SwapBangpath: true, PercentHack: true})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"To: old@dest.test": "To: new@dest.test",
		`Cc: "Old Name" <old@dest.test>, other@dest.test`:               `Cc: "Old Name" <new@dest.test>, other@dest.test`,
		"To: old@dest.test (Old Person), \"Q, Name\" <other@dest.test>": "To: new@dest.test (Old Person), \"Q, Name\" <other@dest.test>",
		"Cc:old@dest.test":                                       "Cc: new@dest.test",
		"cc: Someone <OLD@DEST.TEST>":                            "cc: Someone <new@dest.test>",
		"To: team: old@dest.test, other@dest.test;":              "To: team: new@dest.test, other@dest.test;",
		"Cc: undisclosed-recipients:;":                           "Cc: undisclosed-recipients:;",
		"To: First <old@dest.test>,\n\tSecond <other@dest.test>": "To: First <new@dest.test>, Second <other@dest.test>",
		"From: MAILER-DAEMON":                                    "From: MAILER-DAEMON@mx2.oracle.test",
		"To: old, old@dest.test":                                 "To: old@mx2.oracle.test, new@dest.test",
		"To: <@relay.test:old@dest.test>, <old@dest.test>":       "To: <new@dest.test>, <new@dest.test>",
		"Resent-From: env@sender.test":                           "Resent-From: envnew@sender.test",
		"X-Other: old@dest.test":                                 "X-Other: old@dest.test",
		"To: other@dest.test":                                    "To: other@dest.test",
		"To: old@dest.test, recipient00@dest.test, recipient01@dest.test, recipient02@dest.test, recipient03@dest.test": "To: new@dest.test, recipient00@dest.test, recipient01@dest.test,\n\trecipient02@dest.test, recipient03@dest.test",
		"To: site!user, user%elsewhere.test": "To: user@site, user@elsewhere.test",
	} {
		got, _, err := cl.Header(context.Background(), "Q", in)
		if err != nil || got != want {
			t.Errorf("%q:\n got  %q, %v\n want %q", in, got, err, want)
		}
	}
}

// TestFinishHeaderRewrites: only the header of a local client's message
// is rewritten, the body passes as it is, and a header without a body
// ends the message.
func TestFinishHeaderRewrites(t *testing.T) {
	canon := mapTable(map[string]string{"old@dest.test": "new@dest.test"})
	cl, _ := New(Config{Canonical: []lookup.Table{canon}, MyOrigin: "o.test"})
	const have = "Message-Id: <a@o.test>\r\nDate: Mon, 7 Dec 2026 02:55:01 +0000\r\nFrom: a@o.test\r\n"
	for in, want := range map[string]string{
		have + "Subject: x\r\nTo: old@dest.test,\r\n old@dest.test\r\n\r\nTo: old@dest.test\r\n": have + "Subject: x\r\nTo: new@dest.test, new@dest.test\r\n\r\nTo: old@dest.test\r\n",
		have + "To: old@dest.test\r\n":                                      have + "To: new@dest.test\r\n",
		have + "To: old@dest.test\r\nnot a header\r\nTo: old@dest.test\r\n": have + "To: new@dest.test\r\n\r\nnot a header\r\nTo: old@dest.test\r\n",
	} {
		r, err := cl.FinishHeader(context.Background(), Message{QueueID: "Q", Local: true}, strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		if string(got) != want {
			t.Errorf("%q:\n got  %q\n want %q", in, got, want)
		}
	}
}
