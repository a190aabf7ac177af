package lookup

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SplitList splits a Postfix list value (a main.cf list parameter, a
// restriction list, a table list) at commas and white space, keeping
// "{...}" groups whole, braces included, as Postfix's mystrtokq does:
// "inline:{ a=1, b=2 }, c" is "inline:{ a=1, b=2 }" and "c".
func SplitList(value string) []string { return listTokens(value) }

// CheckBraces reports an unbalanced '{' or '}' in a list value.
func CheckBraces(value string) error {
	depth := 0
	for i := 0; i < len(value); i++ {
		switch value[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth < 0 {
				return fmt.Errorf("unbalanced '}' in %q", value)
			}
		}
	}
	if depth != 0 {
		return fmt.Errorf("unbalanced '{' in %q", value)
	}
	return nil
}

// ParseTime parses a Postfix time value ("300s", "5d", "1w", "0"), as
// Postfix's conv_time does: a decimal number and an optional unit s, m,
// h, d or w; defUnit is the unit of a bare number (for a main.cf
// parameter, the unit of its default).
func ParseTime(v string, defUnit byte) (time.Duration, error) {
	if v == "" {
		return 0, fmt.Errorf("empty time value")
	}
	num, unit := v, defUnit
	if last := v[len(v)-1]; last < '0' || last > '9' {
		num, unit = v[:len(v)-1], last|0x20
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || num == "" || strings.HasPrefix(num, "+") {
		return 0, fmt.Errorf("bad time value %q", v)
	}
	var u time.Duration
	switch unit {
	case 's':
		u = time.Second
	case 'm':
		u = time.Minute
	case 'h':
		u = time.Hour
	case 'd':
		u = 24 * time.Hour
	case 'w':
		u = 7 * 24 * time.Hour
	default:
		return 0, fmt.Errorf("bad time unit in %q", v)
	}
	if n > int64(1<<62)/int64(u) {
		return 0, fmt.Errorf("time value %q out of range", v)
	}
	return time.Duration(n) * u, nil
}
