package maincf

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func loadWithMaster(t *testing.T, master string) *File {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.cf"), []byte("compatibility_level = 3.6\n"), 0o644)
	if master != "" {
		os.WriteFile(filepath.Join(dir, "master.cf"), []byte(master), 0o644)
	}
	f, err := Load(filepath.Join(dir, "main.cf"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Listeners reads master.cf's smtpd and postscreen inet services with
// their -o overrides in the three forms master(5) allows; postscreen
// gets the overrides of the "smtpd pass" service it hands clients to.
func TestListeners(t *testing.T) {
	f := loadWithMaster(t, `# comment
smtp      inet  n       -       y       -       1       postscreen
smtpd     pass  -       -       y       -       -       smtpd
  -o smtpd_banner=$myhostname
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o { smtpd_recipient_restrictions = permit_mynetworks, reject }
  -o { relay_recipient_maps = inline:{ a@example.test=OK } }
127.0.0.1:10025 inet n  -       n       -       -       smtpd -ocontent_filter=
[::1]:smtp inet n       -       n       -       -       smtpd
pickup    unix  n       -       y       60      1       pickup
`)
	ls, found, err := f.Listeners()
	if err != nil || !found {
		t.Fatalf("Listeners: %v %v", found, err)
	}
	want := []Listener{
		{Service: "smtp", Port: 25, Command: "postscreen", Line: 2, Overrides: []Override{{"smtpd_banner", "$myhostname"}}},
		{Service: "submission", Port: 587, Command: "smtpd", Line: 5, Overrides: []Override{{"syslog_name", "postfix/submission"}, {"smtpd_recipient_restrictions", "permit_mynetworks, reject"}, {"relay_recipient_maps", "inline:{ a@example.test=OK }"}}},
		{Service: "127.0.0.1:10025", Host: "127.0.0.1", Port: 10025, Command: "smtpd", Line: 9, Overrides: []Override{{"content_filter", ""}}},
		{Service: "[::1]:smtp", Host: "::1", Port: 25, Command: "smtpd", Line: 10},
	}
	if !reflect.DeepEqual(ls, want) {
		t.Errorf("got  %+v\nwant %+v", ls, want)
	}
	if _, found, _ := loadWithMaster(t, "").Listeners(); found {
		t.Error("found listeners without a master.cf")
	}
	for master, msg := range map[string]string{
		"gopher inet n - n - - smtpd\n":               `unknown port "gopher"`,
		"host.example:25 inet n - n - - smtpd\n":      "is not an IP address",
		"smtp inet n - n - - smtpd -o\n":              "-o without a value",
		"smtp inet n - n - - smtpd -o smtpd_banner\n": "is not name=value",
		"127.0.0.1:99999 inet n - n - - smtpd\n":      "out of range",
		"smtp inet n - n - - smtpd -o { a = {b }\n":   "unbalanced",
	} {
		if _, _, err := loadWithMaster(t, master).Listeners(); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: error %v, want %q", master, err, msg)
		}
	}
}

// Transports lists the unix services that run smtp or lmtp: the content
// filter transports of FILTER_README's master.cf.
func TestTransports(t *testing.T) {
	f := loadWithMaster(t, `smtp      inet  n       -       y       -       -       smtpd
smtp      unix  -       -       y       -       -       smtp
relay     unix  -       -       y       -       -       smtp
  -o syslog_name=postfix/$service_name
smtp-amavis unix -      -       n       -       2       smtp
  -o smtp_data_done_timeout=1200
amavisfeed unix -       -       n       -       2       lmtp
scan      unix  -       -       n       -       10      pipe flags=Rq user=filter argv=/usr/bin/filter
`)
	want := map[string]string{"smtp": "smtp", "relay": "smtp", "smtp-amavis": "smtp", "amavisfeed": "lmtp"}
	if got := f.Transports(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := f.TransportOverrides("smtp-amavis"); !reflect.DeepEqual(got, []Override{{"smtp_data_done_timeout", "1200"}}) {
		t.Errorf("overrides of smtp-amavis: %v", got)
	}
	if got := f.TransportOverrides("smtp"); got != nil {
		t.Errorf("overrides of smtp: %v", got)
	}
	if got := loadWithMaster(t, "").Transports(); got != nil {
		t.Errorf("without master.cf: %v", got)
	}
}
