package lookup

import (
	"fmt"
	"strings"

	"github.com/mxrelay/mxrelay/internal/regfile"
)

// ReadConfigFile reads a table configuration file in Postfix's format
// ("name = value" lines, as main.cf: a line that starts with white space
// continues the previous one, # comments and blank lines are ignored),
// the format of the files that pgsql_table(5), mysql_table(5),
// sqlite_table(5) and ldap_table(5) describe, as Postfix's cfg_parser.c
// reads them. The last of repeated names wins. A line without '=' is an
// error, as in Postfix.
func ReadConfigFile(path string) (map[string]string, error) {
	f, err := regfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := make(map[string]string)
	var warnings []Warning
	var perr error
	err = readLogicalLines(f, path, &warnings, func(lineno int, line string) {
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if perr == nil && (!ok || name == "") {
			perr = fmt.Errorf("%s, line %d: missing '=' after attribute name: %q", path, lineno, printable(truncateLine(line)))
			return
		}
		out[name] = strings.Trim(value, " \t\r\n\v\f")
	})
	if err == nil {
		err = perr
	}
	if err == nil && len(warnings) > 0 {
		err = fmt.Errorf("%s", warnings[0])
	}
	return out, err
}

func truncateLine(s string) string {
	if len(s) > 100 {
		return s[:100]
	}
	return s
}
