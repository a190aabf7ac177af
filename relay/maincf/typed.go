package maincf

import (
	"maps"
	"strconv"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// SetList sets a list parameter (relay_domains, mynetworks, a restriction
// list...) from Go values, as a main.cf line that lists them separated by
// ", ". Each value is main.cf text, read as in a main.cf file: "$name" is
// expanded, and a value may hold several list elements
// ("check_recipient_access hash:/etc/postfix/access") or a "{ ... }"
// group.
//
//	cf.SetList("relay_domains", "example.com", "example.org")
//	cf.SetList("mynetworks", "127.0.0.0/8", "[::1]/128", "192.0.2.0/24")
func (f *File) SetList(name string, values ...string) {
	f.Set(name, strings.Join(values, ", "))
}

// SetTable sets a table parameter (relay_recipient_maps, transport_maps,
// an access map for check_recipient_access...) to tables written in Go,
// searched in the order given. Each table gets the spec "go:NAME" ("go:NAME.2"
// for the second...), the parameter is set to those specs as a main.cf line
// would set it to "hash:..." specs, and Tables returns them, for
// relay.Load (which uses them as it uses LoadOptions.Tables) or
// policy.Config.Tables. So Go configuration goes through the same
// registry, classification and warnings as a main.cf file.
//
// The tables receive keys folded to lower case, as Postfix gives keys to
// its fixed-key tables (lookup.Folded).
//
//	cf.SetTable("relay_recipient_maps", lookup.NewMap(map[string]string{"alice@example.com": "OK"}))
//	// relay_recipient_maps = go:relay_recipient_maps
func (f *File) SetTable(name string, tables ...lookup.Table) {
	if f.tables == nil {
		f.tables = make(map[string]lookup.Table)
	}
	prefix := "go:" + name
	maps.DeleteFunc(f.tables, func(spec string, _ lookup.Table) bool {
		return spec == prefix || strings.HasPrefix(spec, prefix+".")
	})
	specs := make([]string, len(tables))
	for i, t := range tables {
		spec := prefix
		if i > 0 {
			spec += "." + strconv.Itoa(i+1)
		}
		specs[i] = spec
		f.tables[spec] = t
	}
	f.SetList(name, specs...)
}

// Tables returns the Go tables given with SetTable, by spec ("go:NAME").
func (f *File) Tables() map[string]lookup.Table { return maps.Clone(f.tables) }
