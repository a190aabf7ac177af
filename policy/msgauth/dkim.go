package msgauth

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIMResult is the verification of one DKIM-Signature field.
type DKIMResult struct {
	// Result is Pass, Fail (the signature or body hash does not
	// verify), PermError (a signature or key that cannot be used:
	// malformed, expired, revoked, missing, an RSA key under 1024 bits
	// as RFC 8301 section 3.2 asks, rsa-sha1) or TempError (the key
	// could not be fetched for now).
	Result Result
	// Domain is the signing domain (d=), Identifier the agent (i=,
	// "@"+Domain when absent), Selector the key's selector (s=).
	Domain, Identifier, Selector string
	// Reason says why it did not pass, for logs.
	Reason string
}

// verifyDKIM verifies every DKIM-Signature field of msg, at most max of
// them (the rest are not verified and reported as PermError, "too many
// signatures"). Ed25519 keys are verified as RFC 8463 defines them.
func verifyDKIM(ctx context.Context, d DNS, msg []byte, max int) ([]DKIMResult, error) {
	msg = withBody(msg)
	opts := &dkim.VerifyOptions{LookupTXT: txtLookup(ctx, d), MaxVerifications: max}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), opts)
	tooMany := errors.Is(err, dkim.ErrTooManySignatures)
	if err != nil && !tooMany {
		return nil, err
	}
	out := make([]DKIMResult, 0, len(verifs)+1)
	tags := signatureTags(msg)
	for i, v := range verifs {
		r := DKIMResult{Result: Pass, Domain: v.Domain, Identifier: v.Identifier}
		// go-msgauth verifies the signatures in header order; the d=
		// check guards against a header it splits otherwise.
		if i < len(tags) && tags[i].d == v.Domain {
			r.Selector = tags[i].s
		}
		switch {
		case v.Err == nil:
		case dkim.IsTempFail(v.Err):
			r.Result, r.Reason = TempError, v.Err.Error()
		case dkim.IsPermFail(v.Err):
			r.Result, r.Reason = PermError, v.Err.Error()
		default:
			r.Result, r.Reason = Fail, v.Err.Error()
		}
		out = append(out, r)
	}
	if tooMany {
		out = append(out, DKIMResult{Result: PermError, Reason: "too many signatures"})
	}
	return out, nil
}

// withBody returns msg with the empty line that ends its header section
// added when it has none: a message may have no body (RFC 5322 section
// 3.5), which DKIM verifies as an empty one, but go-msgauth needs the
// empty line. Only such a message is copied.
func withBody(msg []byte) []byte {
	crlf := []byte("\r\n")
	if headerEnd(msg) < len(msg) || bytes.HasSuffix(msg, []byte("\r\n\r\n")) || bytes.Equal(msg, crlf) {
		return msg
	}
	m := make([]byte, 0, len(msg)+4)
	m = append(m, msg...)
	if len(m) > 0 && !bytes.HasSuffix(m, crlf) {
		m = append(m, crlf...)
	}
	return append(m, crlf...)
}

// sigTags are the tags of one DKIM-Signature field that verification
// does not report.
type sigTags struct{ d, s string }

// signatureTags returns the d= and s= tags of msg's DKIM-Signature
// fields, in header order (RFC 6376 section 3.2 tag lists; white space
// inside values is dropped, as in base64 and domain values).
func signatureTags(msg []byte) []sigTags {
	var out []sigTags
	for _, f := range fields(msg[:headerEnd(msg)]) {
		if !strings.EqualFold(fieldName(f), "DKIM-Signature") {
			continue
		}
		var t sigTags
		for _, spec := range strings.Split(string(f[bytes.IndexByte(f, ':')+1:]), ";") {
			k, v, ok := strings.Cut(spec, "=")
			if !ok {
				continue
			}
			v = strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
					return -1
				}
				return r
			}, v)
			switch strings.TrimSpace(k) {
			case "d":
				t.d = v
			case "s":
				t.s = v
			}
		}
		out = append(out, t)
	}
	return out
}
