package lookup

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mxrelay/mxrelay/internal/regfile"
)

// UnixTable is unix:passwd.byname or unix:group.byname: the local users
// (or groups) by name, as Postfix's default local_recipient_maps uses them.
// The value is the whole passwd (group) line. It reads the file directly,
// never NSS, and reloads it when it changes.
type UnixTable struct {
	*reloader[map[string]string]
}

func openUnix(_ context.Context, name string, o *OpenOptions) (Table, error) {
	var path string
	switch name {
	case "passwd.byname":
		path = "/etc/passwd"
		if o.PasswdFile != "" {
			path = o.PasswdFile
		}
	case "group.byname":
		path = "/etc/group"
		if o.GroupFile != "" {
			path = o.GroupFile
		}
	default:
		return nil, fmt.Errorf("unix:%s: unknown map name (want passwd.byname or group.byname)", name)
	}
	r, err := newReloader("unix:"+name, path, o, func(p string) (map[string]string, []Warning, error) {
		f, err := regfile.Open(p)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		m := map[string]string{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			user, _, ok := strings.Cut(line, ":")
			if !ok || user == "" || strings.HasPrefix(user, "#") {
				continue
			}
			if _, dup := m[user]; !dup {
				m[user] = line
			}
		}
		return m, nil, sc.Err()
	})
	if err != nil {
		return nil, err
	}
	return UnixTable{r}, nil
}

// Lookup returns the passwd (group) line of the user (group) named key.
// The key is folded to lower case first, as Postfix folds keys of fixed
// tables, so a user whose name has capitals is never found (as in Postfix).
func (t UnixTable) Lookup(_ context.Context, key string) (string, bool, error) {
	if !utf8.ValidString(key) {
		return "", false, nil // Postfix: "non-UTF-8 key", not found
	}
	v, ok := t.get().v[FoldKey(key)]
	if !ok {
		return "", false, nil
	}
	return checkValue(t.spec, key, v)
}
