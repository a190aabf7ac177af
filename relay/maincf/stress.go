package maincf

import (
	"maps"
	"slices"
)

// UnderStress returns the file as Postfix's daemons see it when master(8)
// runs them under stress ("stress = yes"): parameters whose defaults say
// "${stress?{10}:{300}}" (smtpd_timeout, smtpd_hard_error_limit,
// smtpd_junk_command_limit) then take their stress values, as do an
// admin's own ${stress?...} expressions. Reading it records reads on f.
func (f *File) UnderStress() *File {
	g := *f
	g.values = maps.Clone(f.values)
	g.lines = maps.Clone(f.lines)
	g.order = slices.Clone(f.order)
	g.warnings = nil
	if f.read == nil {
		f.read = make(map[string]bool)
	}
	g.read = f.read
	g.set("stress", "yes", 0)
	return &g
}
