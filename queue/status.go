package queue

import "strings"

// validStatus reports whether s is an RFC 3463 enhanced status code,
// "class.subject.detail": class 2, 4 or 5, subject and detail of one to
// three digits (RFC 3463 section 2), as Postfix's dsn_valid checks.
func validStatus(s string) bool {
	class, rest, ok := strings.Cut(s, ".")
	if !ok || (class != "2" && class != "4" && class != "5") {
		return false
	}
	subject, detail, ok := strings.Cut(rest, ".")
	return ok && digits(subject) && digits(detail)
}

func digits(s string) bool {
	if len(s) == 0 || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
