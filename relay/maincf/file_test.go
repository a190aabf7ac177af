package maincf

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/internal/testenv"
	"github.com/mxrelay/mxrelay/lookup"
)

// compactSpace collapses white space runs to one space, as postconf
// prints values.
func compactSpace(s string) string {
	return string(bytes.Join(bytes.Fields([]byte(s)), []byte(" ")))
}

// goldenMainCFs are main.cf bodies whose expanded values are compared with
// Postfix's postconf -x.
var goldenMainCFs = map[string]string{
	"empty": "compatibility_level = 3.6\n",
	"backup-mx": `compatibility_level = 3.6
myhostname = mx2.example.net
mydomain = example.net
relay_domains = backup.example, $mydomain
	other.example
relay_recipient_maps = hash:/etc/postfix/relay_recipients
smtpd_recipient_restrictions =
  permit_mynetworks,
  # a comment inside a continuation
  reject_unauth_destination

maximal_queue_lifetime = 10d
message_size_limit = 20480000
`,
	"primary-mx": `compatibility_level = 3.6
myhostname = gw.example.com
mydestination =
relay_domains = $mydomain
transport_maps = hash:/etc/postfix/transport
relay_transport = relay:[mail.internal.example.com]
relay_recipient_maps = hash:/etc/postfix/relay_recipients
`,
	"expressions": `compatibility_level = 3.6
a = 1
c =
relay_domains = $a$$x ${a?yes} ${c?yes}x ${c:def} ${a:def} $(a) ${a?{Y}:{N}} ${c?{Y}:{N}} ${a?$a} ${{$a} == {1} ? {eq} : {ne}}  ${{$a} < {10} ? {lt} : {ge}}
  cont1
# comment

	cont2   
relayhost=[smart.example]:587
myorigin = $mydomain
`,
	"level-0":     "compatibility_level = 0\nmydestination = $myhostname, localhost\n",
	"level-2":     "compatibility_level = 2\n",
	"no-dot-host": "compatibility_level = 3.6\nmyhostname = mx.example\n",
	"ipv4-only":   "compatibility_level = 3.6\ninet_protocols = ipv4\nmynetworks_style = subnet\n",
	"levelcmp": `compatibility_level = 3.6
relayhost = ${{$compatibility_level} >=level {3.6} ? {new} : {old}} ${{3.10} >level {3.9} ? {t} : {f}} ${{2} != {02} ? {ne} : {eq}}
`,
}

// TestMainCFGolden compares every parameter mxrelay uses, expanded, with
// what Postfix's postconf -x prints for the same main.cf.
func TestMainCFGolden(t *testing.T) {
	postconf := testenv.NeedProgram(t, "postconf")
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	slices.Sort(names)
	for name, body := range goldenMainCFs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := postfixConfDir(t, body)
			cmd := exec.Command(postconf, append([]string{"-c", dir, "-x", "-h"}, names...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("postconf: %v\n%s", err, stderr.Bytes())
			}
			want := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			if len(want) != len(names) {
				t.Fatalf("postconf printed %d lines for %d names:\n%s", len(want), len(names), out)
			}
			c, err := Load(filepath.Join(dir, "main.cf"))
			if err != nil {
				t.Fatal(err)
			}
			for i, n := range names {
				if got := compactSpace(c.Get(n)); got != compactSpace(want[i]) {
					t.Errorf("%s:\n got %q\nwant %q (postconf -x -h)", n, got, want[i])
				}
			}
		})
	}
}

// TestMainCFRawGolden checks the unexpanded values against postconf -h:
// continuation lines, comments inside them, trimming.
func TestMainCFRawGolden(t *testing.T) {
	postconf := testenv.NeedProgram(t, "postconf")
	for name, body := range goldenMainCFs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := postfixConfDir(t, body)
			c, err := Parse(strings.NewReader(body), "main.cf")
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(postconf, "-c", dir, "-n").Output()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				k, v, _ := strings.Cut(l, " =")
				want[k] = strings.TrimPrefix(v, " ")
			}
			delete(want, "config_directory") // added by -c
			names := c.Names()
			slices.Sort(names)
			var wantNames []string
			for k := range want {
				wantNames = append(wantNames, k)
			}
			slices.Sort(wantNames)
			if !slices.Equal(names, wantNames) {
				t.Errorf("names %v, postconf -n has %v", names, wantNames)
			}
			for k, v := range want {
				raw, _ := c.Raw(k)
				if compactSpace(raw) != v {
					t.Errorf("%s = %q, postconf -n says %q", k, raw, v)
				}
			}
		})
	}
}

func TestMainCFParse(t *testing.T) {
	src := "  orphan = 1\n" +
		"a = x\r\n" +
		"b = one\n" +
		"\n" +
		"   # indented comment\n" +
		"\ttwo # not a comment\n" +
		"a = y\n" +
		"smtp-amavis_time_limit = 3\n"
	c, err := Parse(strings.NewReader(src), "test.cf")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Raw("a"); v != "y" {
		t.Errorf("a = %q, want the later line's y", v)
	}
	if v, _ := c.Raw("b"); v != "one\ttwo # not a comment" {
		t.Errorf("b = %q", v)
	}
	if got := c.Names(); !slices.Equal(got, []string{"a", "b", "smtp-amavis_time_limit"}) {
		t.Errorf("names %v (Postfix accepts '-' in a name)", got)
	}
	if got := c.Line("b"); got != 3 {
		t.Errorf("b is on line %d, want 3", got)
	}
	if w := strings.Join(c.Warnings(), "\n"); !strings.Contains(w, `test.cf: logical line must not start with whitespace: "  orphan = 1"`) {
		t.Errorf("warnings lack the orphan line:\n%s", w)
	}
}

// TestMainCFSyntaxErrors checks that a line Postfix refuses to start with
// is an error with Postfix's wording.
func TestMainCFSyntaxErrors(t *testing.T) {
	for src, want := range map[string]string{
		"a = 1\nno equals sign\n": `test.cf, line 2: missing '=' after attribute name: "no equals sign"`,
		"foo bar = x\n":           `test.cf, line 1: missing '=' after attribute name: "foo bar = x"`,
		"\n= x\n":                 `test.cf, line 2: missing attribute name: "= x"`,
	} {
		_, err := Parse(strings.NewReader(src), "test.cf")
		var se *SyntaxError
		if !errors.As(err, &se) || err.Error() != want {
			t.Errorf("Parse(%q) = %v, want %s", src, err, want)
		}
	}
}

func TestMainCFTyped(t *testing.T) {
	c := &File{Hostname: "mx.example.net"}
	c.Set("maximal_queue_lifetime", "7")
	c.Set("delay_warning_time", "4")
	c.Set("minimal_backoff_time", "2m")
	c.Set("maximal_backoff_time", "1w")
	c.Set("smtpd_timeout", "bogus")
	c.Set("message_size_limit", "1024")
	c.Set("soft_bounce", "YES")
	c.Set("smtpd_recipient_restrictions", "permit_mynetworks, check_policy_service { inet:127.0.0.1:9998, timeout=10s },reject_unauth_destination")
	for name, want := range map[string]time.Duration{
		"maximal_queue_lifetime": 7 * 24 * time.Hour, // bare number: days
		"delay_warning_time":     4 * time.Hour,      // bare number: hours
		"minimal_backoff_time":   2 * time.Minute,
		"maximal_backoff_time":   7 * 24 * time.Hour,
		"bounce_queue_lifetime":  5 * 24 * time.Hour, // default 5d
		"queue_run_delay":        300 * time.Second,
	} {
		got, err := c.Duration(name)
		if err != nil || got != want {
			t.Errorf("Duration(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := c.Duration("smtpd_timeout"); err == nil {
		t.Error("bogus time accepted")
	}
	if n, err := c.Int("message_size_limit"); err != nil || n != 1024 {
		t.Errorf("Int = %d, %v", n, err)
	}
	if b, err := c.Bool("soft_bounce"); err != nil || !b {
		t.Errorf("Bool = %v, %v", b, err)
	}
	if _, err := c.Bool("myhostname"); err == nil {
		t.Error("host name accepted as boolean")
	}
	want := []string{"permit_mynetworks", "check_policy_service", "{ inet:127.0.0.1:9998, timeout=10s }", "reject_unauth_destination"}
	if got := c.List("smtpd_recipient_restrictions"); !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	if got := c.Get("mydomain"); got != "example.net" {
		t.Errorf("mydomain = %q", got)
	}
	if got := c.Get("mydestination"); got != "mx.example.net, localhost.example.net, localhost" {
		t.Errorf("mydestination = %q", got)
	}
}

func TestParseTime(t *testing.T) {
	for _, bad := range []string{"", "s", "-1s", "+1s", "1x", "10000000000000w", "1.5h"} {
		if d, err := lookup.ParseTime(bad, 's'); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", bad, d)
		}
	}
}

func TestMainCFRecursion(t *testing.T) {
	c := &File{}
	c.Set("a", "$b x")
	c.Set("b", "$a y")
	c.Set("relayhost", "$a")
	if got := c.Get("relayhost"); got != " y x" {
		t.Errorf("relayhost = %q", got)
	}
	c.Get("relayhost")
	if n := strings.Count(strings.Join(c.Warnings(), "\n"), "recursive reference to parameter a"); n != 1 {
		t.Errorf("%d recursion warnings, want one: %v", n, c.Warnings())
	}
}

// postfixConfDir writes a configuration directory for postconf -c: the
// main.cf and an empty master.cf.
func postfixConfDir(t *testing.T, mainCF string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "master.cf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestOrigin: "myorigin = /etc/mailname" reads the file's first line, as
// Debian's Postfix does; an unreadable or empty file is an error, as it
// stops Postfix.
func TestOrigin(t *testing.T) {
	dir := t.TempDir()
	mailname := filepath.Join(dir, "mailname")
	os.WriteFile(mailname, []byte("example.org \nignored\n"), 0o644)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o644)
	for value, want := range map[string]string{
		mailname:      "example.org",
		"$mydomain":   "example.net",
		"example.com": "example.com",
	} {
		f := &File{Hostname: "mx.example.net"}
		f.Set("myorigin", value)
		if got, err := f.Origin(); err != nil || got != want {
			t.Errorf("myorigin = %s: %q, %v; want %q", value, got, err, want)
		}
	}
	for value, want := range map[string]string{
		empty:         "myorigin file " + empty + " is empty",
		dir + "/none": "open " + dir + "/none",
	} {
		f := &File{Hostname: "mx.example.net"}
		f.Set("myorigin", value)
		if got, err := f.Origin(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("myorigin = %s: %q, %v; want an error with %q", value, got, err, want)
		}
	}
}
