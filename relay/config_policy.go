package relay

import (
	"fmt"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// PolicyConfig builds policy's configuration from a main.cf: every
// parameter policy reads, at its main.cf value or Postfix 3.7's default
// for the file's compatibility_level. Load completes it with what a
// main.cf does not say (the shared address classes, DNS, routes, user
// tables of LoadOptions); a test of a policy alone can pass it to
// policy.New as it is. The Go tables of maincf.File.SetTable are in
// Config.Tables.
//
// One deliberate difference: local_recipient_maps is empty unless main.cf
// sets it (Postfix's default, "proxy:unix:passwd.byname $alias_maps",
// names the local passwd file and aliases, which a relay does not
// deliver to).
func PolicyConfig(cf *maincf.File) (policy.Config, error) {
	r := &reader{cf: cf}
	origin, err := cf.Origin()
	if err != nil {
		return policy.Config{}, err
	}
	c := policy.Config{
		MyHostname:                            r.str("myhostname"),
		MyOrigin:                              origin,
		MyDestination:                         r.tables("mydestination"),
		InetInterfaces:                        r.str("inet_interfaces"),
		ProxyInterfaces:                       r.str("proxy_interfaces"),
		MyNetworks:                            r.tables("mynetworks"),
		PermitMXBackupNetworks:                r.tables("permit_mx_backup_networks"),
		SMTPDRejectUnlistedSender:             r.flag("smtpd_reject_unlisted_sender"),
		MultiRecipientBounceRejectCode:        r.code("multi_recipient_bounce_reject_code"),
		SMTPDSenderLoginMaps:                  r.tables("smtpd_sender_login_maps"),
		RelayDomains:                          r.tables("relay_domains"),
		VirtualAliasDomains:                   r.tables("virtual_alias_domains"),
		VirtualMailboxDomains:                 r.tables("virtual_mailbox_domains"),
		RelayRecipientMaps:                    r.tables("relay_recipient_maps"),
		VirtualAliasMaps:                      r.tables("virtual_alias_maps"),
		VirtualMailboxMaps:                    r.tables("virtual_mailbox_maps"),
		CanonicalMaps:                         r.tables("canonical_maps"),
		RecipientCanonicalMaps:                r.tables("recipient_canonical_maps"),
		RelocatedMaps:                         r.tables("relocated_maps"),
		ParentDomainMatchesSubdomains:         r.list("parent_domain_matches_subdomains"),
		SMTPDNullAccessLookupKey:              r.str("smtpd_null_access_lookup_key"),
		RecipientDelimiter:                    r.str("recipient_delimiter"),
		OwnerRequestSpecial:                   r.flag("owner_request_special"),
		SMTPDClientRestrictions:               r.tables("smtpd_client_restrictions"),
		SMTPDHeloRestrictions:                 r.tables("smtpd_helo_restrictions"),
		SMTPDSenderRestrictions:               r.tables("smtpd_sender_restrictions"),
		SMTPDRelayRestrictions:                r.tables("smtpd_relay_restrictions"),
		SMTPDRecipientRestrictions:            r.tables("smtpd_recipient_restrictions"),
		SMTPDDataRestrictions:                 r.tables("smtpd_data_restrictions"),
		SMTPDRelayBeforeRecipientRestrictions: r.flag("smtpd_relay_before_recipient_restrictions"),
		SMTPDRejectUnlistedRecipient:          r.flag("smtpd_reject_unlisted_recipient"),
		SMTPDDelayReject:                      r.flag("smtpd_delay_reject"),
		ShowUserUnknownTableName:              r.flag("show_user_unknown_table_name"),
		AllowPercentHack:                      r.flag("allow_percent_hack"),
		SwapBangpath:                          r.flag("swap_bangpath"),
		AllowUntrustedRouting:                 r.bool("allow_untrusted_routing"),
		SoftBounce:                            r.bool("soft_bounce"),
		RelayDomainsRejectCode:                r.code("relay_domains_reject_code"),
		AccessMapRejectCode:                   r.code("access_map_reject_code"),
		AccessMapDeferCode:                    r.code("access_map_defer_code"),
		RejectCode:                            r.code("reject_code"),
		DeferCode:                             r.code("defer_code"),
		UnknownRelayRecipientRejectCode:       r.code("unknown_relay_recipient_reject_code"),
		UnknownLocalRecipientRejectCode:       r.code("unknown_local_recipient_reject_code"),
		UnknownVirtualAliasRejectCode:         r.code("unknown_virtual_alias_reject_code"),
		UnknownVirtualMailboxRejectCode:       r.code("unknown_virtual_mailbox_reject_code"),
		NonFQDNRejectCode:                     r.code("non_fqdn_reject_code"),
		InvalidHostnameRejectCode:             r.code("invalid_hostname_reject_code"),
		UnknownAddressRejectCode:              r.code("unknown_address_reject_code"),
		UnknownClientRejectCode:               r.code("unknown_client_reject_code"),
		SMTPDPeernameLookup:                   r.flag("smtpd_peername_lookup"),
		UnknownHostnameRejectCode:             r.code("unknown_hostname_reject_code"),
		MapsRBLRejectCode:                     r.code("maps_rbl_reject_code"),
		RBLReplyMaps:                          r.tables("rbl_reply_maps"),
		DefaultRBLReply:                       r.str("default_rbl_reply"),
		UnknownAddressTempfailAction:          r.str("unknown_address_tempfail_action"),
		UnknownHeloHostnameTempfailAction:     r.str("unknown_helo_hostname_tempfail_action"),
		SMTPDRecipientLimit:                   r.code("smtpd_recipient_limit"),
		MessageSizeLimit:                      r.limit("message_size_limit"),
		SMTPDPolicyServiceTimeout:             r.duration("smtpd_policy_service_timeout"),
		SMTPDPolicyServiceMaxIdle:             r.duration("smtpd_policy_service_max_idle"),
		SMTPDPolicyServiceMaxTTL:              r.duration("smtpd_policy_service_max_ttl"),
		SMTPDPolicyServiceTryLimit:            r.code("smtpd_policy_service_try_limit"),
		SMTPDPolicyServiceRetryDelay:          r.duration("smtpd_policy_service_retry_delay"),
		SMTPDPolicyServiceRequestLimit:        r.code("smtpd_policy_service_request_limit"),
		SMTPDPolicyServiceDefaultAction:       r.str("smtpd_policy_service_default_action"),
		SMTPDPolicyServicePolicyContext:       r.str("smtpd_policy_service_policy_context"),
		SocketDirectory:                       r.str("queue_directory"),
		Tables:                                cf.Tables(), // maincf.File.SetTable
	}
	if cf.IsSet("local_recipient_maps") {
		c.LocalRecipientMaps = r.tables("local_recipient_maps")
	}
	if c.SMTPDRelayRestrictions == "" {
		c.SMTPDRelayRestrictions = "dunno" // policy's empty means its default
	}
	if c.ParentDomainMatchesSubdomains == nil {
		c.ParentDomainMatchesSubdomains = []string{} // none, not policy's default
	}
	if classes := r.list("smtpd_restriction_classes"); len(classes) > 0 {
		c.SMTPDRestrictionClasses = map[string]string{}
		for _, name := range classes {
			if !cf.IsSet(name) {
				r.fail(fmt.Errorf("smtpd_restriction_classes: restriction class %s is not defined", name))
				continue
			}
			c.SMTPDRestrictionClasses[name] = r.tables(name)
		}
	}
	return c, r.err()
}

// rateLimits reads anvil's per-client rate limits
// (smtpd_client_connection_rate_limit, smtpd_client_message_rate_limit,
// smtpd_client_recipient_rate_limit,
// smtpd_client_new_tls_session_rate_limit, anvil_rate_time_unit); Load
// adds smtpd_client_event_limit_exceptions.
func rateLimits(r *reader) RateLimits {
	return RateLimits{
		ConnectionRate:    r.code("smtpd_client_connection_rate_limit"),
		MessageRate:       r.code("smtpd_client_message_rate_limit"),
		RecipientRate:     r.code("smtpd_client_recipient_rate_limit"),
		NewTLSSessionRate: r.code("smtpd_client_new_tls_session_rate_limit"),
		TimeUnit:          r.duration("anvil_rate_time_unit"),
	}
}
