package smtpd

import (
	"strconv"
	"strings"
)

// MailParams are the ESMTP parameters of MAIL FROM that Postfix 3.7
// takes (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8, RFC 3461 RET
// and ENVID, RFC 4954 AUTH).
type MailParams struct {
	// Size is the SIZE the client announced; -1 when it sent none.
	Size int64
	// Body is "7BIT" or "8BITMIME", or "" when the client sent no BODY.
	Body string
	// SMTPUTF8 is set when the client sent SMTPUTF8.
	SMTPUTF8 bool
	// Ret is "FULL" or "HDRS", or "" when absent.
	Ret string
	// EnvID is the ENVID, xtext-decoded; "" when absent.
	EnvID string
	// Auth is the AUTH= value, xtext-decoded ("<>" for none).
	Auth string
}

// RcptParams are the ESMTP parameters of RCPT TO that Postfix 3.7 takes
// (RFC 3461 NOTIFY and ORCPT).
type RcptParams struct {
	// Notify lists the NOTIFY keywords in upper case ("SUCCESS",
	// "FAILURE", "DELAY" or just "NEVER"); nil when absent.
	Notify []string
	// ORCPT is the ORCPT parameter with its address xtext-decoded:
	// "rfc822;user@example.com"; "" when absent.
	ORCPT string
}

// parseMailParams reads MAIL FROM parameters with Postfix's replies
// (smtpd.c mail_cmd). The order of the checks is Postfix's.
func parseMailParams(args []string, smtputf8 bool) (MailParams, *Reply) {
	p := MailParams{Size: -1}
	for _, arg := range args {
		name, value, hasValue := strings.Cut(arg, "=")
		switch up := strings.ToUpper(name); {
		case hasValue && up == "BODY" && strings.EqualFold(value, "8BITMIME"):
			p.Body = "8BITMIME"
		case hasValue && up == "BODY" && strings.EqualFold(value, "7BIT"):
			p.Body = "7BIT"
		case hasValue && up == "SIZE":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || !allDigits(value) {
				return p, reply(501, "5.5.4", "Bad message size syntax")
			}
			p.Size = n
		case !hasValue && up == "SMTPUTF8" && smtputf8:
			p.SMTPUTF8 = true
		case hasValue && up == "AUTH":
			v, ok := decodeXtext(value)
			if !ok {
				return p, reply(501, "5.5.4", "Bad AUTH parameter syntax")
			}
			p.Auth = v
		case hasValue && up == "RET":
			if p.Ret != "" {
				return p, reply(501, "5.5.4", "Duplicate RET parameter")
			}
			switch v := strings.ToUpper(value); v {
			case "FULL", "HDRS":
				p.Ret = v
			default:
				return p, reply(501, "5.5.4", "Bad RET parameter syntax")
			}
		case hasValue && up == "ENVID":
			if p.EnvID != "" {
				return p, reply(501, "5.5.4", "Duplicate ENVID parameter")
			}
			v, ok := decodeXtext(value)
			if !ok || v == "" || !printable(v) {
				return p, reply(501, "5.5.4", "Bad ENVID parameter syntax")
			}
			p.EnvID = v
		default:
			return p, reply(555, "5.5.4", "Unsupported option: "+arg)
		}
	}
	return p, nil
}

// parseRcptParams reads RCPT TO parameters with Postfix's replies
// (smtpd.c rcpt_cmd).
func parseRcptParams(args []string) (RcptParams, *Reply) {
	var p RcptParams
	for _, arg := range args {
		name, value, hasValue := strings.Cut(arg, "=")
		switch up := strings.ToUpper(name); {
		case hasValue && up == "NOTIFY":
			if p.Notify != nil {
				return p, reply(501, "5.5.4", "Error: Ignoring duplicate NOTIFY parameter")
			}
			n, ok := parseNotify(value)
			if !ok {
				return p, reply(501, "5.5.4", "Error: Bad NOTIFY parameter syntax")
			}
			p.Notify = n
		case hasValue && up == "ORCPT":
			if p.ORCPT != "" {
				return p, reply(501, "5.5.4", "Error: Ignoring duplicate ORCPT parameter")
			}
			typ, addr, ok := strings.Cut(value, ";")
			decoded, xok := decodeXtext(addr)
			if !ok || typ == "" || !xok || decoded == "" || !printable(decoded) {
				return p, reply(501, "5.5.4", "Error: Bad ORCPT parameter syntax")
			}
			p.ORCPT = typ + ";" + decoded
		default:
			return p, reply(555, "5.5.4", "Unsupported option: "+arg)
		}
	}
	return p, nil
}

// parseNotify reads "NEVER" or a comma list of SUCCESS, FAILURE, DELAY
// (RFC 3461 section 4.1).
func parseNotify(v string) ([]string, bool) {
	var out []string
	for _, k := range strings.Split(v, ",") {
		k = strings.ToUpper(k)
		switch k {
		case "SUCCESS", "FAILURE", "DELAY", "NEVER":
		default:
			return nil, false
		}
		for _, seen := range out {
			if seen == k {
				return nil, false
			}
		}
		out = append(out, k)
	}
	if len(out) > 1 {
		for _, k := range out {
			if k == "NEVER" {
				return nil, false
			}
		}
	}
	return out, true
}

// decodeXtext decodes RFC 3461 section 4 xtext ("a+2Bb" is "a+b").
func decodeXtext(s string) (string, bool) {
	if !strings.Contains(s, "+") {
		for i := 0; i < len(s); i++ {
			if s[i] < '!' || s[i] > '~' || s[i] == '=' {
				return "", false
			}
		}
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			if i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) {
				return "", false
			}
			n, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(n))
			i += 2
		case c < '!' || c > '~' || c == '=':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// printable reports whether s is printable ASCII, as RFC 3461 wants
// ENVID and ORCPT to be once decoded.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
