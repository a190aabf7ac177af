package lookup

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestInterfaceAddrs(t *testing.T) {
	all := func() ([]netip.Prefix, error) {
		return []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("::ffff:198.51.100.2/128")}, nil
	}
	for value, want := range map[string]string{
		"all":                      "192.0.2.1 198.51.100.2",
		"loopback-only":            "127.0.0.1 ::1",
		"192.0.2.9, [2001:db8::1]": "192.0.2.9 2001:db8::1",
		"":                         "",
		"ALL 127.0.0.1":            "192.0.2.1 198.51.100.2 127.0.0.1",
	} {
		got, err := InterfaceAddrs(value, all)
		var s []string
		for _, a := range got {
			s = append(s, a.String())
		}
		if err != nil || strings.Join(s, " ") != want {
			t.Errorf("InterfaceAddrs(%q) = %v, %v; want %s", value, s, err, want)
		}
	}
	if _, err := InterfaceAddrs("mx.example.net", all); err == nil || !strings.Contains(err.Error(), `"mx.example.net" is not an IP address`) {
		t.Errorf("a host name: %v", err)
	}
	broken := func() ([]netip.Prefix, error) { return nil, errors.New("no interfaces") }
	if got, err := InterfaceAddrs("127.0.0.1 all", broken); err == nil || !slices.Equal(got, []netip.Addr{netip.MustParseAddr("127.0.0.1")}) {
		t.Errorf("a failing interface list: %v, %v", got, err)
	}
}
