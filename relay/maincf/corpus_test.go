package maincf

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestCorpus reads the real main.cf files of testdata/corpus (sources in
// its SOURCES.md) with the master.cf each came with, and checks each
// against Postfix 3.7's postconf, recorded beside it:
//   - the parameters set and their values are those of "postconf -n";
//   - the parameters of kind Unknown are exactly those postconf reports
//     as "unused parameter" in main.cf;
//   - reading every used parameter gives no "undefined parameter" warning
//     that postconf does not give;
//   - the parameters of kind Unimplemented are those listed, for that
//     file, in testdata/corpus/unimplemented.txt (reviewed by hand: each
//     turns on a feature mxrelay lacks).
//
// Every other parameter is then Used or Ignored, which Classify decides
// from the registry of used parameters.
func TestCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/corpus/*.cf")
	if err != nil {
		t.Fatal(err)
	}
	wantGaps := readGaps(t, "testdata/corpus/unimplemented.txt")
	n := 0
	for _, path := range files {
		if strings.HasSuffix(path, ".master.cf") {
			continue
		}
		n++
		name := strings.TrimSuffix(filepath.Base(path), ".cf")
		t.Run(name, func(t *testing.T) {
			base := strings.TrimSuffix(path, ".cf")
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(strings.NewReader(string(src)), "main.cf")
			if err != nil {
				t.Fatal(err)
			}
			f.Hostname = "mx.example.net"
			if m, err := readMaster(base + ".master.cf"); err == nil {
				f.setMaster(m)
			} else if !os.IsNotExist(err) {
				t.Fatal(err)
			}
			postconfN := readPostconfN(t, base+".postconf-n")
			warn := readLines(t, base+".postconf-warn")
			unused := postconfWarned(warn, `main\.cf: unused parameter: ([^=]+)=`)

			// The parameters set, with their values.
			var want []string
			for k := range postconfN {
				want = append(want, k)
			}
			want = append(want, unused...)
			slices.Sort(want)
			got := f.Names()
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("names set:\n got %v\nwant %v (postconf -n and its unused parameters)", got, want)
			}
			for k, v := range postconfN {
				if raw, _ := f.Raw(k); compactSpace(raw) != compactSpace(v) {
					t.Errorf("%s = %q, postconf -n says %q", k, raw, v)
				}
			}

			// The four kinds.
			var unknown, gaps []string
			for _, p := range f.Classify() {
				switch p.Kind {
				case Unknown:
					unknown = append(unknown, p.Name)
				case Unimplemented:
					gaps = append(gaps, p.Name)
				case Used:
					if _, registered := used[p.Name]; !registered && f.transportLimit(p.Name) == "" && !f.referencedByAny(p.Name) && !slices.Contains(lookupListNames(f, "smtpd_restriction_classes"), p.Name) {
						t.Errorf("%s: Used, but neither registered nor referred to", p.Name)
					}
				}
			}
			slices.Sort(unknown)
			slices.Sort(unused)
			if !slices.Equal(unknown, unused) {
				t.Errorf("Unknown %v, postconf's unused parameters %v", unknown, unused)
			}
			slices.Sort(gaps)
			if w := wantGaps[name]; !slices.Equal(gaps, w) {
				t.Errorf("Unimplemented:\n got %v\nwant %v (testdata/corpus/unimplemented.txt)", gaps, w)
			}

			// No false "undefined parameter" warnings.
			undefined := postconfWarned(warn, `main\.cf: undefined parameter: (\S+)`)
			for n := range used {
				f.Get(n)
			}
			for _, w := range f.Warnings() {
				if _, ref, ok := strings.Cut(w, "undefined parameter: "); ok && !slices.Contains(undefined, ref) {
					t.Errorf("warning postconf does not give: %s", w)
				}
			}
		})
	}
	if n < 15 {
		t.Errorf("the corpus has %d main.cf files, want at least 15", n)
	}
}

func lookupListNames(f *File, name string) []string {
	return strings.FieldsFunc(f.expandQuiet(name), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

// readPostconfN reads "postconf -n" output: name = value lines, without
// the config_directory that -c adds.
func readPostconfN(t *testing.T, path string) map[string]string {
	out := map[string]string{}
	for _, l := range readLines(t, path) {
		k, v, ok := strings.Cut(l, " =")
		if !ok {
			t.Fatalf("%s: unexpected line %q", path, l)
		}
		out[k] = strings.TrimPrefix(v, " ")
	}
	delete(out, "config_directory")
	return out
}

// postconfWarned returns the first submatch of pattern in each warning.
func postconfWarned(warn []string, pattern string) []string {
	re := regexp.MustCompile(pattern)
	var out []string
	for _, w := range warn {
		if m := re.FindStringSubmatch(w); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// readGaps reads "file parameter" lines.
func readGaps(t *testing.T, path string) map[string][]string {
	out := map[string][]string{}
	for _, l := range readLines(t, path) {
		if strings.HasPrefix(l, "#") {
			continue
		}
		file, param, ok := strings.Cut(l, " ")
		if !ok {
			t.Fatalf("%s: bad line %q", path, l)
		}
		out[file] = append(out[file], param)
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if sc.Text() != "" {
			out = append(out, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
