package maincf

// Transports returns the delivery services of the master.cf beside
// main.cf that run Postfix's SMTP client: the name of each "unix" service
// whose command is smtp or lmtp, with that command ("smtp-amavis" ->
// "smtp", "amavisfeed" -> "lmtp"). Such a name is a transport of
// transport_maps, content_filter and FILTER actions. The services' "-o"
// overrides are not applied (TransportOverrides). Nil without a
// master.cf.
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
// name of the master.cf beside main.cf (Transports), which mxrelay does
// not apply to deliveries: callers warn about them. Nil when there are
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
