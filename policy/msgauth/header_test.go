package msgauth

import (
	"strings"
	"testing"
)

func TestAuthservID(t *testing.T) {
	for in, want := range map[string]string{
		" mx.example.org; spf=pass":                  "mx.example.org",
		"mx.example.org 1; dkim=pass":                "mx.example.org",
		" (forged (nested) comment) MX.Example.ORG;": "MX.Example.ORG",
		"\r\n\t\"mx.example.org\"; none":             "mx.example.org",
		` "mx.exa\"mple.org"; none`:                  `mx.exa"mple.org`,
		" (unterminated mx.example.org; spf=pass":    "",
		" ; spf=pass":                         "",
		"":                                    "",
		" mx.example.org(comment); dkim=pass": "mx.example.org",
		" \"unterminated mx.example.org; dkim=pass":      "",
		" (a \\) b) mx.example.org; dkim=pass":           "mx.example.org",
		" mx.example.org.; dkim=pass header.d=a.example": "mx.example.org.",
	} {
		if got := AuthservID([]byte(in)); got != want {
			t.Errorf("AuthservID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStripForged(t *testing.T) {
	msg := "Authentication-Results: (looks real) MX.example.org.;\r\n\tdkim=pass header.d=bank.example\r\n" +
		"Received: from a\r\n\tby b\r\n" +
		"authentication-results: \"mx.example.org\"; spf=pass\r\n" +
		"Authentication-Results: mx.example.org.evil.example; dmarc=pass\r\n" +
		"Authentication-Results: other.example; dkim=pass\r\n" +
		"Subject: hi\r\n" +
		"\r\n" +
		"Authentication-Results: mx.example.org; in the body, kept\r\n"
	want := "Received: from a\r\n\tby b\r\n" +
		"Authentication-Results: mx.example.org.evil.example; dmarc=pass\r\n" +
		"Authentication-Results: other.example; dkim=pass\r\n" +
		"Subject: hi\r\n" +
		"\r\n" +
		"Authentication-Results: mx.example.org; in the body, kept\r\n"
	if got := string(StripForged([]byte(msg), "mx.example.org")); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	clean := "Subject: hi\r\n\r\nbody\r\n"
	if got := StripForged([]byte(clean), "mx.example.org"); string(got) != clean {
		t.Errorf("a message without ours changed: %q", got)
	}
	noBody := "Authentication-Results: mx.example.org; none\r\nSubject: x\r\n"
	if got := string(StripForged([]byte(noBody), "mx.example.org")); got != "Subject: x\r\n" {
		t.Errorf("header only: %q", got)
	}
}

func TestFromDomain(t *testing.T) {
	for in, want := range map[string]string{
		"From: Alice <alice@Example.ORG>\r\n\r\n":              "example.org",
		"From: alice@example.org\r\n (comment)\r\n\r\n":        "example.org",
		"From: a@example.org, b@example.net\r\n\r\n":           "",
		"From: a@example.org\r\nFrom: b@example.org\r\n\r\n":   "",
		"Subject: no from\r\n\r\n":                             "",
		"From: not an address\r\n\r\n":                         "",
		"From: =?utf-8?q?Al=C3=AFce?= <alice@example.org>\r\n": "example.org",
		"From: alice@B\u00fccher.example\r\n\r\n":              "xn--bcher-kva.example",
	} {
		got, ok := fromDomain([]byte(in))
		if got != want || ok != (want != "") {
			t.Errorf("fromDomain(%q) = %q, %v, want %q", strings.TrimSpace(in), got, ok, want)
		}
	}
}

// TestFieldHostileValues: what a peer chose (a signature's d= and i=, a
// failure's reason) cannot break the header out of its field or its
// quoting.
func TestFieldHostileValues(t *testing.T) {
	r := &Results{
		AuthservID: "mx.example.net",
		DKIM: []DKIMResult{{Result: Fail, Domain: "evil.example\r\nX-Injected: yes", Identifier: `@"x\`,
			Reason: "bad \"quote\" \\ and\x00 NUL " + strings.Repeat("x", 500)}},
		SPF:   &SPFResult{Result: Pass, Identity: "mailfrom", Domain: "a.example"},
		DMARC: DMARCResult{Result: Fail, From: "a.example", Policy: PolicyReject},
	}
	f := r.Field()
	for i, line := range strings.Split(f, "\r\n") {
		if i > 0 && !strings.HasPrefix(line, "\t") {
			t.Errorf("line %d is not a continuation: %q", i, line)
		}
		if strings.ContainsAny(line, "\r\n\x00") || len(line) > 300 {
			t.Errorf("line %d: %q", i, line)
		}
	}
	if strings.Count(f, `"`)%2 != 0 {
		t.Errorf("unbalanced quotes: %q", f)
	}
	if !strings.HasPrefix(f, "Authentication-Results: mx.example.net;\r\n\tdkim=fail reason=") ||
		!strings.HasSuffix(f, "\tspf=pass smtp.mailfrom=a.example;\r\n\tdmarc=fail reason=\"p=reject\" header.from=a.example") {
		t.Errorf("field:\n%s", f)
	}
}
