package maillog

import (
	"testing"
	"time"
)

// The delays of Postfix 3.7's lines (format_tv.c with
// delay_logging_resolution_limit = 2): two significant digits, at most
// two decimals.
func TestFormatDelay(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0"},
		{-time.Second, "0"},
		{4 * time.Millisecond, "0"},
		{5 * time.Millisecond, "0.01"},
		{20 * time.Millisecond, "0.02"},
		{214 * time.Millisecond, "0.21"},
		{215 * time.Millisecond, "0.22"},
		{999 * time.Millisecond, "1"},
		{time.Second, "1"},
		{1234 * time.Millisecond, "1.2"},
		{1250 * time.Millisecond, "1.3"},
		{9960 * time.Millisecond, "10"},
		{12345 * time.Millisecond, "12"},
		{100 * time.Second, "100"},
		{3*time.Hour + 500*time.Millisecond, "10801"},
	} {
		if got := FormatDelay(c.d); got != c.want {
			t.Errorf("FormatDelay(%v) = %q, want %q", c.d, got, c.want)
		}
	}
	d := Delays{20 * time.Millisecond, 0, 50 * time.Millisecond, 130 * time.Millisecond}
	if got := d.String(); got != "0.02/0/0.05/0.13" {
		t.Errorf("Delays.String() = %q", got)
	}
}
