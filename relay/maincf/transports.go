package maincf

import (
	"maps"
	"slices"
	"strconv"
	"strings"
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

// ProcessLimit returns the process limit (maxproc, the 7th field) of the
// unix service name of the master.cf beside main.cf, when it is a number
// above 0: Postfix's qmgr caps the deliveries in progress through that
// transport at it (qmgr_transport.c). 0 for "-" (default_process_limit),
// "0" (no limit), no such service, or no master.cf.
func (f *File) ProcessLimit(name string) int {
	for _, s := range f.masterLines {
		if len(s.fields) >= 8 && s.fields[0] == name && s.fields[1] == "unix" {
			if n, err := strconv.Atoi(s.fields[6]); err == nil && n > 0 {
				return n
			}
			return 0
		}
	}
	return 0
}

// transportLimit returns who reads a TRANSPORT_destination_concurrency_limit
// or TRANSPORT_destination_recipient_limit of smtp, relay, lmtp or a
// master.cf delivery service (Transports), or "". Postfix derives these
// names from master.cf's services ("postconf -d" lists none of them), so
// they are not in the registry of used parameters.
func (f *File) transportLimit(name string) User {
	for suffix, user := range map[string]User{"_destination_concurrency_limit": UserQueue, "_destination_recipient_limit": UserRelay} {
		t, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if _, ok := f.Transports()[t]; ok || t == "smtp" || t == "relay" || t == "lmtp" {
			return user
		}
	}
	return ""
}
