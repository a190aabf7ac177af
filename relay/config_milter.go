package relay

import (
	"fmt"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/relay/milter"
)

// Milters are the milters of the SMTP sessions (Postfix's smtpd_milters
// and smtpd_milter_maps) and the values of the macros Postfix sends them
// that the relay cannot know by itself. The zero value has no milters.
type Milters struct {
	// Specs are the milters of every session, in order (smtpd_milters).
	Specs []milter.Spec
	// Maps give a client's own milters by its address
	// (smtpd_milter_maps): a found list replaces Specs for the session,
	// "DISABLE" means none. Nil: Specs for everyone.
	Maps []lookup.Table
	// Defaults are the settings of the milters a Maps result lists.
	Defaults milter.Defaults
	// DaemonName is the {daemon_name} macro (milter_macro_daemon_name;
	// empty: Config.Hostname).
	DaemonName string
	// Version is the v macro (milter_macro_v, "$mail_name $mail_version").
	Version string
	// MacroDefaults are the values of macros the session does not define
	// (milter_macro_defaults).
	MacroDefaults map[string]string
}

// enabled reports whether any session may have milters.
func (m *Milters) enabled() bool { return m != nil && (len(m.Specs) > 0 || len(m.Maps) > 0) }

// milterConfig reads smtpd_milters, smtpd_milter_maps and the milter_*
// parameters. Nil when there are no milters.
func milterConfig(r *reader, open func(string) (lookup.Table, error)) (*Milters, error) {
	if strings.TrimSpace(r.str("smtpd_milters")) == "" && strings.TrimSpace(r.tables("smtpd_milter_maps")) == "" {
		return nil, nil
	}
	act, err := milter.ParseAction(r.str("milter_default_action"))
	if err != nil {
		return nil, &maincf.ValueError{Param: "milter_default_action", Value: r.str("milter_default_action"), Reason: err.Error()}
	}
	if _, _, err := milter.ParseProtocol(r.str("milter_protocol")); err != nil {
		return nil, &maincf.ValueError{Param: "milter_protocol", Value: r.str("milter_protocol"), Reason: err.Error()}
	}
	d := milter.Defaults{
		DefaultAction:  act,
		Protocol:       r.str("milter_protocol"),
		ConnectTimeout: r.duration("milter_connect_timeout"),
		CommandTimeout: r.duration("milter_command_timeout"),
		ContentTimeout: r.duration("milter_content_timeout"),
		Macros: milter.Macros{
			Connect: milter.ParseMacros(r.str("milter_connect_macros")),
			Helo:    milter.ParseMacros(r.str("milter_helo_macros")),
			Mail:    milter.ParseMacros(r.str("milter_mail_macros")),
			Rcpt:    milter.ParseMacros(r.str("milter_rcpt_macros")),
			Data:    milter.ParseMacros(r.str("milter_data_macros")),
			EOH:     milter.ParseMacros(r.str("milter_end_of_header_macros")),
			EOM:     milter.ParseMacros(r.str("milter_end_of_data_macros")),
			Unknown: milter.ParseMacros(r.str("milter_unknown_command_macros")),
		},
	}
	m := &Milters{Defaults: d, DaemonName: r.str("milter_macro_daemon_name"), Version: r.str("milter_macro_v")}
	if v := r.str("smtpd_milters"); !strings.EqualFold(strings.TrimSpace(v), "DISABLE") {
		if m.Specs, err = milter.ParseList(v, d); err != nil {
			return nil, &maincf.ValueError{Param: "smtpd_milters", Value: v, Reason: err.Error()}
		}
	}
	for _, spec := range lookup.SplitList(r.tables("smtpd_milter_maps")) {
		t, err := open(spec)
		if err != nil {
			return nil, fmt.Errorf("relay: smtpd_milter_maps: %w", err)
		}
		m.Maps = append(m.Maps, t)
	}
	if v := r.str("milter_macro_defaults"); v != "" {
		m.MacroDefaults = map[string]string{}
		for _, tok := range lookup.SplitList(v) {
			k, val, ok := strings.Cut(tok, "=")
			if !ok {
				return nil, &maincf.ValueError{Param: "milter_macro_defaults", Value: v, Reason: "name=value expected, not " + tok}
			}
			val = strings.TrimSpace(val)
			if strings.HasPrefix(val, "{") && strings.HasSuffix(val, "}") {
				val = strings.TrimSpace(val[1 : len(val)-1])
			}
			m.MacroDefaults[strings.TrimSpace(k)] = val
		}
	}
	return m, nil
}
