package relay

import (
	"strings"

	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/relay/smtpdproxy"
)

// proxyConfig reads the before-queue content filter of the listener:
// smtpd_proxy_filter, smtpd_proxy_timeout, smtpd_proxy_ehlo (default
// $myhostname) and smtpd_proxy_options. Nil when smtpd_proxy_filter is
// empty.
func proxyConfig(r *reader) (*smtpdproxy.Config, error) {
	service := strings.TrimSpace(r.str("smtpd_proxy_filter"))
	if service == "" {
		return nil, nil
	}
	c := &smtpdproxy.Config{Service: service, Timeout: r.duration("smtpd_proxy_timeout"), EHLO: strings.TrimSpace(r.str("smtpd_proxy_ehlo"))}
	if err := c.Validate(); err != nil {
		return nil, &maincf.ValueError{Param: "smtpd_proxy_filter", Value: service, Reason: err.Error()}
	}
	// smtpd_proxy_parse_opts: a name_mask of one name; anything else is
	// fatal in Postfix.
	for _, o := range strings.FieldsFunc(r.str("smtpd_proxy_options"), func(c rune) bool { return c == ',' || c == ' ' || c == '\t' }) {
		if !strings.EqualFold(o, "speed_adjust") {
			return nil, &maincf.ValueError{Param: "smtpd_proxy_options", Value: r.str("smtpd_proxy_options"), Reason: "unknown option " + o + " (Postfix 3.7 knows speed_adjust)"}
		}
		c.SpeedAdjust = true
	}
	return c, nil
}
