package dbcommon

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mxrelay/mxrelay/lookup"
)

// Config is a table configuration file, read as Postfix's cfg_parser.c
// reads it.
type Config struct {
	path   string
	values map[string]string
}

// ReadConfig reads the configuration file named by a table spec's name.
// Postfix reads a name that does not start with '/' or '.' from main.cf
// parameters ("ldap:foo" reads foo_server_host...); that form is refused
// by name, since a table opens without main.cf.
func ReadConfig(typ, name string) (*Config, error) {
	if !strings.HasPrefix(name, "/") && !strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("%s:%s: configuration in main.cf parameters (%s_...) is not supported: give the path of a %s_table(5) file", typ, name, name, typ)
	}
	v, err := lookup.ReadConfigFile(name)
	if err != nil {
		return nil, err
	}
	return &Config{path: name, values: v}, nil
}

// Failover returns an empty Failover with the file's retry_interval
// (default 60s), and its idle_interval (60s), after which a server's
// idle connections close.
func (c *Config) Failover() (*Failover, time.Duration, error) {
	retry, err := c.Int("retry_interval", 60, 1)
	if err != nil {
		return nil, 0, err
	}
	idle, err := c.Int("idle_interval", 60, 1)
	if err != nil {
		return nil, 0, err
	}
	return &Failover{Retry: time.Duration(retry) * time.Second}, time.Duration(idle) * time.Second, nil
}

// Path is the file's path.
func (c *Config) Path() string { return c.path }

// Lookup returns the value of name and whether the file sets it.
func (c *Config) Lookup(name string) (string, bool) {
	v, ok := c.values[name]
	return v, ok
}

// Str returns the value of name, or def when it is not set.
func (c *Config) Str(name, def string) string {
	if v, ok := c.values[name]; ok {
		return v
	}
	return def
}

// Int returns the value of name, or def, and fails on a value that is not
// a number or is below min, as Postfix's cfg_get_int.
func (c *Config) Int(name string, def, min int) (int, error) {
	s, ok := c.values[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s: bad numerical configuration: %s = %s", c.path, name, s)
	}
	if n < min {
		return 0, fmt.Errorf("%s: invalid %s parameter value %d < %d", c.path, name, n, min)
	}
	return n, nil
}

// Bool returns the value of name ("yes" or "no", any case), or def, as
// Postfix's cfg_get_bool.
func (c *Config) Bool(name string, def bool) (bool, error) {
	s, ok := c.values[name]
	switch {
	case !ok:
		return def, nil
	case strings.EqualFold(s, "yes"):
		return true, nil
	case strings.EqualFold(s, "no"):
		return false, nil
	}
	return false, fmt.Errorf("%s: bad boolean configuration: %s = %s", c.path, name, s)
}

// Refuse fails when the file sets one of names: settings Postfix honours
// that this driver does not, which must never be silently ignored.
func (c *Config) Refuse(names ...string) error {
	for _, n := range names {
		if _, ok := c.values[n]; ok {
			return fmt.Errorf("%s: %s is not supported", c.path, n)
		}
	}
	return nil
}

// Settings reads what db_common.c reads: the query (given, since each
// driver builds its default differently), result_format, domain and
// expansion_limit.
func (c *Config) Settings(ctx context.Context, spec, query string, o *lookup.OpenOptions) (Settings, error) {
	s := Settings{Spec: spec}
	var err error
	s.Query, s.Result, err = ParseTemplates(query, c.Str("result_format", "%s"))
	if err != nil {
		return s, fmt.Errorf("%s: %w", c.path, err)
	}
	if s.ExpansionLimit, err = c.Int("expansion_limit", 0, 0); err != nil {
		return s, err
	}
	if s.Domains, err = ParseDomains(ctx, c.Str("domain", ""), o); err != nil {
		return s, fmt.Errorf("%s: %w", c.path, err)
	}
	return s, nil
}

// SQLQuery returns the query of an SQL table: "query", else the one
// Postfix builds from table, select_field, where_field and
// additional_conditions (db_common_sql_build_query).
func (c *Config) SQLQuery() (string, error) {
	if q, ok := c.values["query"]; ok {
		return q, nil
	}
	var missing []string
	for _, n := range []string{"table", "select_field", "where_field"} {
		if c.Str(n, "") == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%s: no query, and %s not defined", c.path, strings.Join(missing, ", "))
	}
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s='%%s' %s", c.Str("select_field", ""), c.Str("table", ""), c.Str("where_field", ""), c.Str("additional_conditions", "")), nil
}
