package policy

import "testing"

func TestDSN(t *testing.T) {
	for s, n := range map[string]int{"5.7.1": 5, "5.7.1 text": 5, "4.123.456": 9, "2.0.0\tx": 5,
		"5.1": 0, "5.1 short": 0, "6.1.1": 0, "5.1234.1": 0, "5.1.1x": 0, "5..1": 0, "": 0} {
		if got := dsnValid(s); got != n {
			t.Errorf("dsnValid(%q) = %d, want %d", s, got, n)
		}
	}
	for _, tc := range [][3]string{
		{"5.1.1", classRecipient, "4.1.1"}, {"5.1.7", classRecipient, "4.1.3"}, {"5.1.1", classSender, "4.1.7"},
		{"5.1.2", classSender, "4.1.8"}, {"5.1.9", classRecipient, "4.1.0"}, {"5.1.1", classClient, "4.0.0"},
		{"5.7.1", classRecipient, "5.7.1"},
	} {
		if got := dsnFix(tc[0], tc[1]); got != tc[2] {
			t.Errorf("dsnFix(%s, %s) = %s, want %s", tc[0], tc[1], got, tc[2])
		}
	}
}
