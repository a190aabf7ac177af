package maincf

import "slices"

// User names the part of mxrelay that reads a parameter.
type User string

// The parts of mxrelay that read main.cf parameters.
const (
	UserPolicy    User = "policy"    // smtpd's restrictions and recipient checks
	UserTransport User = "transport" // routing (trivial-rewrite) and delivery (smtp)
	UserQueue     User = "queue"     // the queue manager's retry and lifetimes
	UserRelay     User = "relay"     // the SMTP server, DSNs and the composition
	// UserDaemon is examples/mxrelayd itself, for what the library does
	// not read: syslog_name, the first part of the program names in its
	// Postfix-format log (relay/maillog).
	UserDaemon User = "mxrelayd"
)

// used lists every parameter mxrelay reads, with the part that reads it.
// The relay's registry test checks that nothing is read that is not
// listed here. It is never written.
var used = map[string]User{
	"compatibility_level": UserRelay,
	"mail_name":           UserRelay,
	"syslog_name":         UserDaemon,
	"myhostname":          UserRelay,
	"mydomain":            UserRelay,
	"myorigin":            UserRelay,
	"queue_directory":     UserRelay,
	"inet_interfaces":     UserRelay,
	"inet_protocols":      UserRelay,
	"proxy_interfaces":    UserRelay,
	"mynetworks_style":    UserRelay,

	"message_size_limit":                      UserRelay,
	"hopcount_limit":                          UserRelay,
	"smtpd_recipient_limit":                   UserRelay,
	"smtpd_soft_error_limit":                  UserRelay,
	"smtpd_hard_error_limit":                  UserRelay,
	"smtpd_junk_command_limit":                UserRelay,
	"smtpd_error_sleep_time":                  UserRelay,
	"smtpd_timeout":                           UserRelay,
	"smtpd_client_connection_count_limit":     UserRelay,
	"smtpd_banner":                            UserRelay,
	"soft_bounce":                             UserRelay,
	"stress":                                  UserRelay,
	"smtpd_tls_security_level":                UserRelay,
	"smtpd_use_tls":                           UserRelay,
	"smtpd_enforce_tls":                       UserRelay,
	"smtpd_tls_cert_file":                     UserRelay,
	"smtpd_tls_key_file":                      UserRelay,
	"smtpd_tls_chain_files":                   UserRelay,
	"default_process_limit":                   UserRelay,
	"disable_vrfy_command":                    UserRelay,
	"strict_rfc821_envelopes":                 UserRelay,
	"smtpd_command_filter":                    UserRelay,
	"fast_flush_domains":                      UserRelay,
	"smtpd_authorized_xforward_hosts":         UserRelay,
	"smtpd_forbid_unauth_pipelining":          UserRelay,
	"smtpd_client_event_limit_exceptions":     UserRelay,
	"smtpd_client_connection_rate_limit":      UserRelay,
	"smtpd_client_message_rate_limit":         UserRelay,
	"smtpd_client_recipient_rate_limit":       UserRelay,
	"smtpd_client_new_tls_session_rate_limit": UserRelay,
	"anvil_rate_time_unit":                    UserRelay,
	"smtpd_upstream_proxy_protocol":           UserRelay,
	"smtpd_upstream_proxy_timeout":            UserRelay,
	"smtputf8_enable":                         UserRelay,
	"line_length_limit":                       UserRelay,
	"smtpd_recipient_overshoot_limit":         UserRelay,
	"smtpd_discard_ehlo_keywords":             UserRelay,
	"delay_warning_time":                      UserRelay,

	"maximal_queue_lifetime":                UserQueue,
	"bounce_queue_lifetime":                 UserQueue,
	"minimal_backoff_time":                  UserQueue,
	"maximal_backoff_time":                  UserQueue,
	"default_destination_concurrency_limit": UserQueue,
	// TRANSPORT_destination_concurrency_limit and
	// TRANSPORT_destination_recipient_limit are used too, for smtp,
	// relay, lmtp and master.cf's delivery services (File.transportLimit).
	"default_destination_recipient_limit": UserRelay,

	"mydestination":                    UserTransport,
	"relay_domains":                    UserTransport,
	"virtual_alias_domains":            UserTransport,
	"virtual_mailbox_domains":          UserTransport,
	"parent_domain_matches_subdomains": UserTransport,
	"transport_maps":                   UserTransport,
	"relay_transport":                  UserTransport,
	"default_transport":                UserTransport,
	"local_transport":                  UserTransport,
	"virtual_transport":                UserTransport,
	"relayhost":                        UserTransport,
	"fallback_relay":                   UserTransport,
	"smtp_fallback_relay":              UserTransport,
	"recipient_delimiter":              UserTransport,
	"smtp_tls_security_level":          UserTransport,
	"smtp_tls_policy_maps":             UserTransport,
	"smtp_tls_CAfile":                  UserTransport,
	"smtp_helo_name":                   UserTransport,

	// The SMTP and LMTP clients' own settings, also read from the "-o"
	// overrides of a master.cf delivery service (relay's service
	// clients).
	"smtp_send_xforward_command": UserTransport,
	"lmtp_send_xforward_command": UserTransport,
	"lmtp_lhlo_name":             UserTransport,
	"smtp_connect_timeout":       UserTransport,
	"smtp_helo_timeout":          UserTransport,
	"smtp_starttls_timeout":      UserTransport,
	"smtp_xforward_timeout":      UserTransport,
	"smtp_rset_timeout":          UserTransport,
	"smtp_mail_timeout":          UserTransport,
	"smtp_rcpt_timeout":          UserTransport,
	"smtp_data_init_timeout":     UserTransport,
	"smtp_data_xfer_timeout":     UserTransport,
	"smtp_data_done_timeout":     UserTransport,
	"smtp_quit_timeout":          UserTransport,
	"lmtp_connect_timeout":       UserTransport,
	"lmtp_lhlo_timeout":          UserTransport,
	"lmtp_starttls_timeout":      UserTransport,
	"lmtp_xforward_timeout":      UserTransport,
	"lmtp_rset_timeout":          UserTransport,
	"lmtp_mail_timeout":          UserTransport,
	"lmtp_rcpt_timeout":          UserTransport,
	"lmtp_data_init_timeout":     UserTransport,
	"lmtp_data_xfer_timeout":     UserTransport,
	"lmtp_data_done_timeout":     UserTransport,
	"lmtp_quit_timeout":          UserTransport,

	"address_verify_sender":                UserRelay,
	"address_verify_poll_count":            UserRelay,
	"address_verify_poll_delay":            UserRelay,
	"address_verify_positive_expire_time":  UserRelay,
	"address_verify_positive_refresh_time": UserRelay,
	"address_verify_negative_expire_time":  UserRelay,
	"address_verify_negative_refresh_time": UserRelay,
	"address_verify_negative_cache":        UserRelay,
	"address_verify_pending_request_limit": UserRelay,
	"unverified_recipient_reject_code":     UserPolicy,
	"unverified_recipient_defer_code":      UserPolicy,
	"unverified_recipient_tempfail_action": UserPolicy,
	"unverified_recipient_reject_reason":   UserPolicy,
	"unverified_sender_reject_code":        UserPolicy,
	"unverified_sender_defer_code":         UserPolicy,
	"unverified_sender_tempfail_action":    UserPolicy,
	"unverified_sender_reject_reason":      UserPolicy,

	"smtp_address_preference":           UserTransport,
	"smtp_mx_address_limit":             UserTransport,
	"smtp_mx_session_limit":             UserTransport,
	"smtp_randomize_addresses":          UserTransport,
	"smtp_defer_if_no_mx_address_found": UserTransport,
	"ignore_mx_lookup_error":            UserTransport,

	// The cleanup stage (relay/cleanup), built by the relay; it takes
	// virtual_alias_maps, canonical_maps, recipient_canonical_maps,
	// recipient_delimiter and owner_request_special from the policy's
	// configuration.
	"virtual_alias_recursion_limit":      UserRelay,
	"virtual_alias_expansion_limit":      UserRelay,
	"virtual_alias_address_length_limit": UserRelay,
	"propagate_unmatched_extensions":     UserRelay,
	"sender_canonical_maps":              UserRelay,
	"canonical_classes":                  UserRelay,
	"sender_canonical_classes":           UserRelay,
	"recipient_canonical_classes":        UserRelay,
	"local_header_rewrite_clients":       UserRelay,
	"always_bcc":                         UserRelay,
	"content_filter":                     UserRelay,
	"masquerade_domains":                 UserRelay,
	"masquerade_exceptions":              UserRelay,
	"masquerade_classes":                 UserRelay,
	"default_filter_nexthop":             UserRelay,
	"receive_override_options":           UserRelay,
	"header_checks":                      UserRelay,
	"body_checks":                        UserRelay,
	"mime_header_checks":                 UserRelay,
	"disable_mime_input_processing":      UserRelay,
	"nested_header_checks":               UserRelay,
	"body_checks_size_limit":             UserRelay,
	"sender_bcc_maps":                    UserRelay,
	"recipient_bcc_maps":                 UserRelay,
	"header_size_limit":                  UserRelay,
	"message_drop_headers":               UserRelay,
	"smtp_header_checks":                 UserRelay,
	"smtp_mime_header_checks":            UserRelay,
	"smtp_nested_header_checks":          UserRelay,
	"smtp_body_checks":                   UserRelay,
	"lmtp_header_checks":                 UserRelay,
	"lmtp_mime_header_checks":            UserRelay,
	"lmtp_nested_header_checks":          UserRelay,
	"lmtp_body_checks":                   UserRelay,
	"always_add_missing_headers":         UserRelay,
	"undisclosed_recipients_header":      UserRelay,
	"smtpd_proxy_filter":                 UserRelay,
	"smtpd_proxy_timeout":                UserRelay,
	"smtpd_proxy_ehlo":                   UserRelay,
	"smtpd_proxy_options":                UserRelay,
	"smtpd_milters":                      UserRelay,
	"smtpd_milter_maps":                  UserRelay,
	"milter_default_action":              UserRelay,
	"milter_protocol":                    UserRelay,
	"milter_connect_timeout":             UserRelay,
	"milter_command_timeout":             UserRelay,
	"milter_content_timeout":             UserRelay,
	"milter_connect_macros":              UserRelay,
	"milter_helo_macros":                 UserRelay,
	"milter_mail_macros":                 UserRelay,
	"milter_rcpt_macros":                 UserRelay,
	"milter_data_macros":                 UserRelay,
	"milter_end_of_header_macros":        UserRelay,
	"milter_end_of_data_macros":          UserRelay,
	"milter_unknown_command_macros":      UserRelay,
	"milter_macro_daemon_name":           UserRelay,
	"milter_macro_v":                     UserRelay,
	"milter_macro_defaults":              UserRelay,

	"mynetworks":                                UserPolicy,
	"relay_recipient_maps":                      UserPolicy,
	"local_recipient_maps":                      UserPolicy,
	"virtual_alias_maps":                        UserPolicy,
	"virtual_maps":                              UserPolicy,
	"virtual_mailbox_maps":                      UserPolicy,
	"canonical_maps":                            UserPolicy,
	"recipient_canonical_maps":                  UserPolicy,
	"relocated_maps":                            UserPolicy,
	"smtpd_null_access_lookup_key":              UserPolicy,
	"owner_request_special":                     UserPolicy,
	"allow_untrusted_routing":                   UserPolicy,
	"allow_percent_hack":                        UserPolicy,
	"swap_bangpath":                             UserPolicy,
	"show_user_unknown_table_name":              UserPolicy,
	"smtpd_client_restrictions":                 UserPolicy,
	"smtpd_helo_restrictions":                   UserPolicy,
	"smtpd_sender_restrictions":                 UserPolicy,
	"smtpd_relay_restrictions":                  UserPolicy,
	"smtpd_recipient_restrictions":              UserPolicy,
	"smtpd_data_restrictions":                   UserPolicy,
	"smtpd_restriction_classes":                 UserPolicy,
	"smtpd_relay_before_recipient_restrictions": UserPolicy,
	"smtpd_reject_unlisted_recipient":           UserPolicy,
	"smtpd_delay_reject":                        UserPolicy,
	"relay_domains_reject_code":                 UserPolicy,
	"access_map_reject_code":                    UserPolicy,
	"access_map_defer_code":                     UserPolicy,
	"reject_code":                               UserPolicy,
	"defer_code":                                UserPolicy,
	"unknown_relay_recipient_reject_code":       UserPolicy,
	"unknown_local_recipient_reject_code":       UserPolicy,
	"unknown_virtual_alias_reject_code":         UserPolicy,
	"unknown_virtual_mailbox_reject_code":       UserPolicy,
	"non_fqdn_reject_code":                      UserPolicy,
	"unknown_address_reject_code":               UserPolicy,
	"invalid_hostname_reject_code":              UserPolicy,
	"smtpd_policy_service_default_action":       UserPolicy,
	"smtpd_policy_service_policy_context":       UserPolicy,
	"smtpd_policy_service_timeout":              UserPolicy,
	"smtpd_policy_service_max_idle":             UserPolicy,
	"smtpd_policy_service_max_ttl":              UserPolicy,
	"smtpd_policy_service_try_limit":            UserPolicy,
	"smtpd_policy_service_retry_delay":          UserPolicy,
	"smtpd_policy_service_request_limit":        UserPolicy,
	"rbl_reply_maps":                            UserPolicy,
	"default_rbl_reply":                         UserPolicy,
	"maps_rbl_reject_code":                      UserPolicy,
	"unknown_address_tempfail_action":           UserPolicy,
	"unknown_helo_hostname_tempfail_action":     UserPolicy,
	"unknown_client_reject_code":                UserPolicy,
	"smtpd_peername_lookup":                     UserPolicy,
	"permit_mx_backup_networks":                 UserPolicy,
	"smtpd_reject_unlisted_sender":              UserPolicy,
	"multi_recipient_bounce_reject_code":        UserPolicy,
	"smtpd_sender_login_maps":                   UserPolicy,
	"unknown_hostname_reject_code":              UserPolicy,
}

// own lists the parameters that are mxrelay's own, not Postfix's
// (Postfix knows none of them: "postconf -d" does not list them, and a
// Postfix reading the same main.cf warns they are unused). Each has the
// prefix "mxrelay_" and is documented where it is read. It is never
// written.
var own = map[string]User{
	// Message authentication at DATA (relay/config_msgauth.go).
	"mxrelay_message_authentication":  UserRelay,
	"mxrelay_authserv_id":             UserRelay,
	"mxrelay_dkim_signature_limit":    UserRelay,
	"mxrelay_spf_trusted_forwarders":  UserRelay,
	"mxrelay_dmarc_reject_action":     UserRelay,
	"mxrelay_dmarc_quarantine_action": UserRelay,
}

// UsedBy returns the part of mxrelay that reads a parameter, and whether
// mxrelay reads it at all.
func UsedBy(name string) (User, bool) {
	if u, ok := used[name]; ok {
		return u, true
	}
	u, ok := own[name]
	return u, ok
}

// Own reports whether a parameter is mxrelay's own, unknown to Postfix.
func Own(name string) bool {
	_, ok := own[name]
	return ok
}

// UsedNames returns the parameters mxrelay reads, sorted.
func UsedNames() []string {
	out := make([]string, 0, len(used)+len(own))
	for n := range used {
		out = append(out, n)
	}
	for n := range own {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
