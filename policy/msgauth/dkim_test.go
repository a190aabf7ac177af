//go:debug rsa1024min=0

package msgauth

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mxrelay/mxrelay/transport/dnstest"
)

const testMessage = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: quarterly figures\r\n" +
	"Date: Mon, 07 Dec 2026 01:00:00 +0000\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"\r\n" +
	"Hello Bob,\r\nthe figures are attached.\r\n"

var (
	rsaKey = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	edKey  = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

// keyRecord is the DKIM key record (RFC 6376 section 3.6.1) of a
// signer's public key.
func keyRecord(s crypto.Signer) string {
	switch pub := s.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			panic(err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	}
	panic("unknown key")
}

// sign signs msg for domain with selector sel.
func sign(t testing.TB, msg, domain, sel string, key crypto.Signer, expires time.Time) string {
	t.Helper()
	var b bytes.Buffer
	err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: sel, Signer: key,
		Expiration: expires, HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"}})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// signWithLength signs msg (simple/simple, rsa-sha256) with an l= tag
// covering the first n bytes of its body, by hand: go-msgauth's signer
// writes no l= tag.
func signWithLength(msg, domain, sel string, key *rsa.PrivateKey, n int) string {
	hdr, body, _ := strings.Cut(msg, "\r\n\r\n")
	hdr += "\r\n"
	body = strings.TrimRight(body, "\r\n") + "\r\n"
	bh := sha256.Sum256([]byte(body[:n]))
	value := fmt.Sprintf("v=1; a=rsa-sha256; c=simple/simple; d=%s; s=%s; l=%d; h=From:Subject; bh=%s; b=",
		domain, sel, n, base64.StdEncoding.EncodeToString(bh[:]))
	var signed strings.Builder
	for _, name := range []string{"From", "Subject"} {
		for _, f := range fields([]byte(hdr)) {
			if fieldName(f) == name {
				signed.Write(f)
			}
		}
	}
	signed.WriteString("DKIM-Signature: " + value)
	h := sha256.Sum256([]byte(signed.String()))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		panic(err)
	}
	return "DKIM-Signature: " + value + base64.StdEncoding.EncodeToString(sig) + "\r\n" + msg
}

func TestDKIM(t *testing.T) {
	short := mustRSA(512)
	srv, d := zone(t,
		txt("rsa._domainkey.example.org", keyRecord(rsaKey())),
		txt("ed._domainkey.example.org", keyRecord(edKey())),
		txt("revoked._domainkey.example.org", "v=DKIM1; k=rsa; p="),
		txt("short._domainkey.example.org", keyRecord(short)),
		txt("ed._domainkey.list.example", keyRecord(edKey())),
	)
	srv.SetFault("broken._domainkey.example.org", dnstest.AnyType, dnstest.ServFail)
	past := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	type want struct {
		res    Result
		reason string
	}
	for _, tc := range []struct {
		name string
		msg  string
		want []want
	}{
		{"rsa-2048 pass", sign(t, testMessage, "example.org", "rsa", rsaKey(), time.Time{}), []want{{Pass, ""}}},
		{"ed25519 pass (RFC 8463)", sign(t, testMessage, "example.org", "ed", edKey(), time.Time{}), []want{{Pass, ""}}},
		{"body tampered", strings.Replace(sign(t, testMessage, "example.org", "rsa", rsaKey(), time.Time{}), "figures are", "figures were", 1),
			[]want{{Fail, "body hash"}}},
		{"header tampered", strings.Replace(sign(t, testMessage, "example.org", "ed", edKey(), time.Time{}), "quarterly", "annual", 1),
			[]want{{Fail, "signature did not verify"}}},
		{"expired", sign(t, testMessage, "example.org", "rsa", rsaKey(), past), []want{{PermError, "expired"}}},
		{"missing key", sign(t, testMessage, "example.org", "nokey", rsaKey(), time.Time{}), []want{{PermError, "no key"}}},
		{"revoked key", sign(t, testMessage, "example.org", "revoked", rsaKey(), time.Time{}), []want{{PermError, "revoked"}}},
		{"key lookup SERVFAIL", sign(t, testMessage, "example.org", "broken", rsaKey(), time.Time{}), []want{{TempError, ""}}},
		{"rsa-512 fails (RFC 8301)", sign(t, testMessage, "example.org", "short", short, time.Time{}), []want{{PermError, "too short"}}},
		{"l= tag", signWithLength(testMessage, "example.org", "rsa", rsaKey(), 10), []want{{Fail, "body length"}}},
		{"several signatures, mixed", sign(t,
			sign(t, testMessage, "example.org", "revoked", rsaKey(), time.Time{}), "list.example", "ed", edKey(), time.Time{}),
			[]want{{Pass, ""}, {PermError, "revoked"}}},
		{"unsigned", testMessage, nil},
		{"unsigned, no body", "From: a@example.org\r\nSubject: x\r\n", nil},
		{"unsigned, empty", "", nil},
		{"signed, no body (RFC 5322 section 3.5)", strings.TrimSuffix(sign(t, "From: a@example.org\r\nSubject: x\r\n\r\n", "example.org", "ed", edKey(), time.Time{}), "\r\n"),
			[]want{{Pass, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := verifyDKIM(t.Context(), d, []byte(tc.msg), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d results %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				if got[i].Result != w.res || !strings.Contains(got[i].Reason, w.reason) {
					t.Errorf("signature %d: %s (%s), want %s (%q)", i, got[i].Result, got[i].Reason, w.res, w.reason)
				}
			}
		})
	}
}

// TestDKIMSelector: each result names its signature's selector, for
// header.s, even across folded tag lists.
func TestDKIMSelector(t *testing.T) {
	_, d := zone(t, txt("ed._domainkey.list.example", keyRecord(edKey())))
	msg := sign(t, sign(t, testMessage, "example.org", "rsa", rsaKey(), time.Time{}), "list.example", "ed", edKey(), time.Time{})
	got, err := verifyDKIM(t.Context(), d, []byte(msg), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Selector != "ed" || got[0].Domain != "list.example" || got[1].Selector != "rsa" || got[1].Domain != "example.org" {
		t.Errorf("got %+v", got)
	}
	r := &Results{AuthservID: "mx.example.net", DKIM: got}
	if f := r.Field(); !strings.Contains(f, "dkim=pass header.d=list.example header.i=@list.example header.s=ed;") {
		t.Errorf("field %q", f)
	}
}

func TestDKIMSignatureLimit(t *testing.T) {
	_, d := zone(t, txt("ed._domainkey.example.org", keyRecord(edKey())))
	msg := testMessage
	for range 4 {
		msg = sign(t, msg, "example.org", "ed", edKey(), time.Time{})
	}
	got, err := verifyDKIM(t.Context(), d, []byte(msg), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Result != Pass || got[1].Result != Pass || got[2].Result != PermError || got[2].Reason != "too many signatures" {
		t.Errorf("got %+v, want two passes and one permerror for the rest", got)
	}
}
