package smtpd

import (
	"strconv"
	"strings"
	"unicode/utf8"
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
func parseMailParams(args []string, smtputf8, dsn bool) (MailParams, *Reply) {
	p := MailParams{Size: -1}
	for _, arg := range args {
		name, value, hasValue := strings.Cut(arg, "=")
		switch up := strings.ToUpper(name); {
		case hasValue && !dsn && (up == "RET" || up == "ENVID"):
			return p, errDSNDisabled
		case hasValue && up == "BODY" && strings.EqualFold(value, "8BITMIME"):
			p.Body = "8BITMIME"
		case hasValue && up == "BODY" && strings.EqualFold(value, "7BIT"):
			p.Body = "7BIT"
		case hasValue && up == "SIZE":
			if !allDigits(value) {
				return p, reply(501, "5.5.4", "Bad message size syntax")
			}
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return p, reply(552, "5.3.4", "Message size exceeds file system imposed limit")
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
				return p, reply(501, "5.5.4", "Bad RET parameter syntax")
			}
			switch v := strings.ToUpper(value); v {
			case "FULL", "HDRS":
				p.Ret = v
			default:
				return p, reply(501, "5.5.4", "Bad RET parameter syntax")
			}
		case hasValue && up == "ENVID":
			if p.EnvID != "" {
				return p, reply(501, "5.5.4", "Bad ENVID parameter syntax")
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
func parseRcptParams(args []string, dsn bool) (RcptParams, *Reply) {
	var p RcptParams
	for _, arg := range args {
		name, value, hasValue := strings.Cut(arg, "=")
		switch up := strings.ToUpper(name); {
		case hasValue && !dsn && (up == "NOTIFY" || up == "ORCPT"):
			return p, errDSNDisabled
		case hasValue && up == "NOTIFY":
			if p.Notify != nil {
				return p, reply(501, "5.5.4", "Error: Bad NOTIFY parameter syntax")
			}
			n, ok := parseNotify(value)
			if !ok {
				return p, reply(501, "5.5.4", "Error: Bad NOTIFY parameter syntax")
			}
			p.Notify = n
		case hasValue && up == "ORCPT":
			if p.ORCPT != "" {
				return p, reply(501, "5.5.4", "Error: Bad ORCPT parameter syntax")
			}
			typ, addr, ok := strings.Cut(value, ";")
			decoded, xok := decodeXtext(addr)
			if strings.EqualFold(typ, "utf-8") {
				decoded, xok = decodeUTF8Addr(addr)
			}
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

// errDSNDisabled refuses the DSN parameters when smtpd_discard_ehlo_keywords
// discards DSN, as Postfix does.
var errDSNDisabled = reply(501, "5.7.1", "DSN support is disabled")

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

// printable reports whether s has no control characters once decoded:
// a CR LF in ENVID or ORCPT would inject fields into DSNs. Bytes over
// 0x7e are let through for utf-8 ORCPTs (RFC 6533), checked as UTF-8.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return false
		}
	}
	return true
}

// decodeUTF8Addr decodes RFC 6533 section 3 utf-8-addr-xtext and
// utf-8-addr-unitext: UTF-8 text where "\x{HEX}" stands for a code point
// (and must be used for '+', '=', '\\' and controls).
func decodeUTF8Addr(s string) (string, bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			rest := s[i+1:]
			if !strings.HasPrefix(rest, "x{") {
				return "", false
			}
			end := strings.IndexByte(rest, '}')
			if end < 3 || end > 8 {
				return "", false
			}
			n, err := strconv.ParseUint(rest[2:end], 16, 32)
			if err != nil || !utf8.ValidRune(rune(n)) {
				return "", false
			}
			b.WriteRune(rune(n))
			i += end + 1
			continue
		}
		if c < '!' || c == '+' || c == '=' || c == 0x7f {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}
