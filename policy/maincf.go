package policy

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// ParseMainCF reads Postfix main.cf syntax: "name = value" lines, a line
// starting with white space continues the previous one, '#' lines and
// blank lines are ignored, and a later setting of a name wins. Values are
// returned as written, without $name expansion (FromMainCF expands them).
func ParseMainCF(r io.Reader) (map[string]string, error) {
	params := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var name string
	var value strings.Builder
	flush := func() {
		if name != "" {
			params[name] = strings.TrimSpace(value.String())
		}
		name = ""
		value.Reset()
	}
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name == "" {
				return nil, fmt.Errorf("main.cf line %d: continuation line without a parameter", n)
			}
			value.WriteByte(' ')
			value.WriteString(trimmed)
			continue
		}
		flush()
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("main.cf line %d: missing '=' after parameter name", n)
		}
		name = strings.TrimSpace(k)
		if name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("main.cf line %d: bad parameter name %q", n, k)
		}
		value.WriteString(strings.TrimSpace(v))
	}
	flush()
	return params, sc.Err()
}

// mainCFDefault is the Postfix 3.7 default (compatibility_level 3.6) of a
// parameter FromMainCF needs when main.cf does not set it.
func mainCFDefault(name string) (string, bool) {
	switch name {
	case "myorigin":
		return "$myhostname", true
	case "mydestination":
		return "$myhostname, localhost.$mydomain, localhost", true
	case "mynetworks":
		return "127.0.0.0/8 [::1]/128", true
	case "inet_interfaces":
		return "all", true
	case "relay_domains":
		return "", true
	case "virtual_alias_domains":
		return "$virtual_alias_maps", true
	case "virtual_mailbox_domains":
		return "$virtual_mailbox_maps", true
	case "smtpd_relay_restrictions":
		return DefaultRelayRestrictions, true
	}
	return "", false
}

// FromMainCF makes a Config from main.cf parameters (as ParseMainCF returns
// them), expanding $name, ${name} and $(name), and ${name?value} /
// ${name:value}. Parameters main.cf does not set take Postfix 3.7's
// defaults, with two deliberate differences: mynetworks defaults to the
// loopback networks (Postfix: the machine's own addresses), and
// local_recipient_maps to empty (Postfix: proxy:unix:passwd.byname
// $alias_maps; an embedded relay has no local mailboxes unless told). A
// "proxy:" prefix on a table is dropped (tables are opened in-process).
// Parameters policy does not implement are ignored.
//
// FromMainCF knows no compatibility_level and no mynetworks_style, so
// without them in params it can differ from what a daemon runs: to test
// exactly the policy examples/mxrelayd runs for a main.cf, load it with
// relay.Load and use Loaded.Policy (examples/policytest does).
func FromMainCF(params map[string]string) (Config, error) {
	var c Config
	get := func(name string) (string, bool) {
		v, ok := params[name]
		if !ok {
			v, ok = mainCFDefault(name)
		}
		return v, ok
	}
	var expandErr error
	var expand func(v string, depth int) string
	expand = func(v string, depth int) string {
		if depth > 20 {
			expandErr = fmt.Errorf("main.cf: recursive $name expansion in %q", v)
			return ""
		}
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] != '$' || i+1 >= len(v) {
				b.WriteByte(v[i])
				continue
			}
			i++
			var name, op, arg string
			switch v[i] {
			case '$':
				b.WriteByte('$')
				continue
			case '{', '(':
				closer := map[byte]byte{'{': '}', '(': ')'}[v[i]]
				j := strings.IndexByte(v[i:], closer)
				if j < 0 {
					expandErr = fmt.Errorf("main.cf: unbalanced %q in %q", v[i], v)
					return ""
				}
				inner := v[i+1 : i+j]
				i += j
				name = inner
				if k := strings.IndexAny(inner, "?:"); k >= 0 {
					name, op, arg = inner[:k], inner[k:k+1], inner[k+1:]
				}
			default:
				j := i
				for j < len(v) && (v[j] == '_' || v[j] >= 'a' && v[j] <= 'z' || v[j] >= 'A' && v[j] <= 'Z' || v[j] >= '0' && v[j] <= '9') {
					j++
				}
				name = v[i:j]
				i = j - 1
			}
			val, _ := get(name)
			val = expand(val, depth+1)
			switch op {
			case "?":
				if val != "" {
					b.WriteString(expand(arg, depth+1))
				}
			case ":":
				if val == "" {
					b.WriteString(expand(arg, depth+1))
				}
			default:
				b.WriteString(val)
			}
		}
		return b.String()
	}
	val := func(name string) string {
		v, _ := get(name)
		return strings.ReplaceAll(expand(v, 0), "proxy:", "")
	}
	set := func(name string) bool { _, ok := params[name]; return ok }
	if _, ok := params["myhostname"]; !ok {
		h, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("main.cf: myhostname is not set and the host name is unknown: %w", err)
		}
		params = cloneWith(params, "myhostname", h)
	}
	if _, ok := params["mydomain"]; !ok {
		h := params["myhostname"]
		if i := strings.IndexByte(h, '.'); i >= 0 {
			params = cloneWith(params, "mydomain", h[i+1:])
		} else {
			params = cloneWith(params, "mydomain", "localdomain")
		}
	}
	strs := []struct {
		name string
		dst  *string
	}{
		{"myhostname", &c.MyHostname}, {"myorigin", &c.MyOrigin}, {"mydestination", &c.MyDestination},
		{"inet_interfaces", &c.InetInterfaces}, {"proxy_interfaces", &c.ProxyInterfaces},
		{"mynetworks", &c.MyNetworks}, {"relay_domains", &c.RelayDomains},
		{"virtual_alias_domains", &c.VirtualAliasDomains}, {"virtual_mailbox_domains", &c.VirtualMailboxDomains},
		{"relay_recipient_maps", &c.RelayRecipientMaps}, {"local_recipient_maps", &c.LocalRecipientMaps},
		{"virtual_alias_maps", &c.VirtualAliasMaps}, {"virtual_mailbox_maps", &c.VirtualMailboxMaps},
		{"canonical_maps", &c.CanonicalMaps}, {"recipient_canonical_maps", &c.RecipientCanonicalMaps},
		{"relocated_maps", &c.RelocatedMaps}, {"recipient_delimiter", &c.RecipientDelimiter},
		{"smtpd_null_access_lookup_key", &c.SMTPDNullAccessLookupKey},
		{"smtpd_client_restrictions", &c.SMTPDClientRestrictions}, {"smtpd_helo_restrictions", &c.SMTPDHeloRestrictions},
		{"smtpd_sender_restrictions", &c.SMTPDSenderRestrictions}, {"smtpd_relay_restrictions", &c.SMTPDRelayRestrictions},
		{"smtpd_recipient_restrictions", &c.SMTPDRecipientRestrictions}, {"smtpd_data_restrictions", &c.SMTPDDataRestrictions},
		{"smtpd_policy_service_default_action", &c.SMTPDPolicyServiceDefaultAction},
		{"smtpd_policy_service_policy_context", &c.SMTPDPolicyServicePolicyContext},
	}
	for _, s := range strs {
		*s.dst = val(s.name)
	}
	if set("smtpd_relay_restrictions") && strings.TrimSpace(c.SMTPDRelayRestrictions) == "" {
		c.SMTPDRelayRestrictions = "dunno"
	}
	if lvl := val("compatibility_level"); !set("relay_domains") && lvl != "" && compatBelow2(lvl) {
		c.RelayDomains = c.MyDestination
	}
	if set("parent_domain_matches_subdomains") {
		c.ParentDomainMatchesSubdomains = splitList(val("parent_domain_matches_subdomains"))
		if c.ParentDomainMatchesSubdomains == nil {
			c.ParentDomainMatchesSubdomains = []string{}
		}
	}
	flags := []struct {
		name string
		dst  *Flag
	}{
		{"owner_request_special", &c.OwnerRequestSpecial},
		{"smtpd_relay_before_recipient_restrictions", &c.SMTPDRelayBeforeRecipientRestrictions},
		{"smtpd_reject_unlisted_recipient", &c.SMTPDRejectUnlistedRecipient},
		{"smtpd_delay_reject", &c.SMTPDDelayReject},
		{"show_user_unknown_table_name", &c.ShowUserUnknownTableName},
		{"allow_percent_hack", &c.AllowPercentHack},
		{"swap_bangpath", &c.SwapBangpath},
	}
	for _, f := range flags {
		if !set(f.name) {
			continue
		}
		v, err := parseFlag(f.name, val(f.name))
		if err != nil {
			return c, err
		}
		*f.dst = v
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"allow_untrusted_routing", &c.AllowUntrustedRouting}, {"soft_bounce", &c.SoftBounce}} {
		if !set(b.name) {
			continue
		}
		v, err := parseFlag(b.name, val(b.name))
		if err != nil {
			return c, err
		}
		*b.dst = v == Yes
	}
	ints := []struct {
		name string
		dst  *int
	}{
		{"relay_domains_reject_code", &c.RelayDomainsRejectCode}, {"access_map_reject_code", &c.AccessMapRejectCode},
		{"access_map_defer_code", &c.AccessMapDeferCode}, {"reject_code", &c.RejectCode}, {"defer_code", &c.DeferCode},
		{"unknown_relay_recipient_reject_code", &c.UnknownRelayRecipientRejectCode},
		{"unknown_local_recipient_reject_code", &c.UnknownLocalRecipientRejectCode},
		{"unknown_virtual_alias_reject_code", &c.UnknownVirtualAliasRejectCode},
		{"unknown_virtual_mailbox_reject_code", &c.UnknownVirtualMailboxRejectCode},
		{"non_fqdn_reject_code", &c.NonFQDNRejectCode}, {"unknown_address_reject_code", &c.UnknownAddressRejectCode},
		{"invalid_hostname_reject_code", &c.InvalidHostnameRejectCode},
		{"smtpd_recipient_limit", &c.SMTPDRecipientLimit},
		{"smtpd_policy_service_try_limit", &c.SMTPDPolicyServiceTryLimit},
		{"smtpd_policy_service_request_limit", &c.SMTPDPolicyServiceRequestLimit},
	}
	for _, n := range ints {
		if !set(n.name) {
			continue
		}
		v, err := strconv.Atoi(val(n.name))
		if err != nil {
			return c, fmt.Errorf("main.cf: %s: %v", n.name, err)
		}
		*n.dst = v
	}
	if set("message_size_limit") {
		v, err := strconv.ParseInt(val("message_size_limit"), 10, 64)
		if err != nil {
			return c, fmt.Errorf("main.cf: message_size_limit: %v", err)
		}
		c.MessageSizeLimit = v
	}
	durs := []struct {
		name string
		dst  *time.Duration
	}{
		{"smtpd_policy_service_timeout", &c.SMTPDPolicyServiceTimeout}, {"smtpd_policy_service_max_idle", &c.SMTPDPolicyServiceMaxIdle},
		{"smtpd_policy_service_max_ttl", &c.SMTPDPolicyServiceMaxTTL}, {"smtpd_policy_service_retry_delay", &c.SMTPDPolicyServiceRetryDelay},
	}
	for _, d := range durs {
		if !set(d.name) {
			continue
		}
		v, err := parseDuration(val(d.name))
		if err != nil {
			return c, fmt.Errorf("main.cf: %s: %v", d.name, err)
		}
		*d.dst = v
	}
	if classes := splitList(val("smtpd_restriction_classes")); len(classes) > 0 {
		c.SMTPDRestrictionClasses = map[string]string{}
		for _, name := range classes {
			if !set(name) {
				return c, fmt.Errorf("main.cf: restriction class %s is not defined", name)
			}
			c.SMTPDRestrictionClasses[name] = val(name)
		}
	}
	return c, expandErr
}

func cloneWith(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

func compatBelow2(level string) bool {
	major, _, _ := strings.Cut(level, ".")
	n, err := strconv.Atoi(major)
	return err == nil && n < 2
}

// parseFlag reads a main.cf boolean. A value that is not one is refused,
// as Postfix refuses it ("bad boolean configuration"), rather than read as
// "no".
func parseFlag(name, v string) (Flag, error) {
	switch strings.ToLower(v) {
	case "yes", "true", "1":
		return Yes, nil
	case "no", "false", "0":
		return No, nil
	}
	return Unset, fmt.Errorf("main.cf: %s: bad boolean %q", name, v)
}
