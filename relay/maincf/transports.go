package maincf

import (
	"maps"
	"slices"
)

// Transports returns the delivery services of the master.cf beside
// main.cf that run Postfix's SMTP client: the name of each "unix" service
// whose command is smtp or lmtp, with that command ("smtp-amavis" ->
// "smtp", "amavisfeed" -> "lmtp"). Such a name is a transport of
// transport_maps, content_filter and FILTER actions; its "-o" overrides
// are TransportOverrides. Nil without a master.cf.
func (f *File) Transports() map[string]string {
	if f.commands == nil {
		return nil
	}
	out := make(map[string]string)
	for _, s := range f.masterLines {
		if len(s.fields) >= 8 && s.fields[1] == "unix" && (s.fields[7] == "smtp" || s.fields[7] == "lmtp") {
			out[s.fields[0]] = s.fields[7]
		}
	}
	return out
}

// TransportOverrides returns the "-o" overrides of the unix service
// name of the master.cf beside main.cf (Transports), which apply to the
// deliveries through that transport (WithOverrides). Nil when there are
// none or no such service.
func (f *File) TransportOverrides(name string) []Override {
	for _, s := range f.masterLines {
		if len(s.fields) >= 8 && s.fields[0] == name && s.fields[1] == "unix" {
			o, _ := overrides(s)
			return o
		}
	}
	return nil
}

// WithOverrides returns a copy of f with the overrides set, as a master.cf
// service sees main.cf: the parameters its "-o" options name take their
// values, the others stay main.cf's. Reading the copy records reads on f.
func (f *File) WithOverrides(overrides []Override) *File {
	g := *f
	g.values, g.lines = maps.Clone(f.values), maps.Clone(f.lines)
	g.order, g.warnings = slices.Clone(f.order), nil
	if f.read == nil {
		f.read = make(map[string]bool)
	}
	g.read = f.read
	for _, o := range overrides {
		g.set(o.Name, o.Value, 0)
	}
	return &g
}
