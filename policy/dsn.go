package policy

import "strings"

// dsnValid returns the length of an RFC 3463 status code at the start of
// s ("5.7.1"), followed by the end or white space; 0 when there is none.
// It is Postfix's dsn_valid.
func dsnValid(s string) int {
	if len(s) < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.' {
		return 0
	}
	i := 2
	n := digits(s[i:])
	if n < 1 || n > 3 || i+n >= len(s) || s[i+n] != '.' {
		return 0
	}
	i += n + 1
	n = digits(s[i:])
	if n < 1 || n > 3 || i+n < len(s) && !isBlank(s[i+n]) {
		return 0
	}
	return i + n
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// dsnSplit splits "5.1.2 text" into a status and a text; def is used when
// text has no leading status (Postfix dsn_split).
func dsnSplit(def, text string) (dsn, rest string) {
	if n := dsnValid(text); n > 0 {
		return text[:n], strings.TrimLeft(text[n:], " \t")
	}
	return def, text
}

// Reply classes (Postfix SMTPD_NAME_*).
const (
	classClient    = "Client host"
	classHelo      = "Helo command"
	classSender    = "Sender address"
	classRecipient = "Recipient address"
	classData      = "Data command"
	classRevClient = "Unverified Client host"
)

// dsnFix is Postfix's smtpd_dsn_fix: an address status (x.1.y) is mapped
// to the sender or recipient variant of what is being rejected.
func dsnFix(status, class string) string {
	if len(status) < 5 || status[1:4] != ".1." {
		return status
	}
	micro := status[4:]
	switch class {
	case classSender:
		switch micro {
		case "2", "8":
			return "4.1.8"
		case "3", "7":
			return "4.1.7"
		case "5":
			return "4.1.0"
		case "1", "4", "6":
			return "4.1.7"
		}
		return "4.1.0"
	case classRecipient:
		switch micro {
		case "1", "2", "3", "4", "5", "6":
			return "4.1." + micro
		case "7":
			return "4.1.3"
		case "8":
			return "4.1.2"
		}
		return "4.1.0"
	}
	return "4.0.0"
}
