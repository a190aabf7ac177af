package relay

import (
	"crypto/tls"
	"fmt"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"os"
	"strings"
)

// serverTLS builds the STARTTLS configuration of smtpd_tls_security_level
// = may or encrypt (or the obsolete smtpd_use_tls / smtpd_enforce_tls),
// from smtpd_tls_chain_files or smtpd_tls_cert_file and
// smtpd_tls_key_file. As Postfix does, a certificate that cannot be
// loaded disables STARTTLS with a warning rather than stopping the
// server. "encrypt" (TLS required before MAIL) is not enforced by
// mxrelay; a warning says so.
func serverTLS(r *reader) (*tls.Config, []string) {
	level := tlsLevel(r)
	if level != "may" && level != "encrypt" {
		return nil, nil
	}
	var warns []string
	if level == "encrypt" {
		warns = append(warns, "smtpd_tls_security_level = encrypt: clients must use STARTTLS before MAIL; an MX that the Internet sends to must not require TLS (RFC 3207 section 4)")
	}
	var cert tls.Certificate
	var err error
	if chain := r.list("smtpd_tls_chain_files"); len(chain) > 0 {
		var pem []byte
		for _, f := range chain {
			b, rerr := os.ReadFile(f)
			if rerr != nil {
				err = rerr
				break
			}
			pem = append(pem, b...)
		}
		if err == nil {
			cert, err = tls.X509KeyPair(pem, pem)
		}
	} else {
		certFile, keyFile := r.str("smtpd_tls_cert_file"), r.str("smtpd_tls_key_file")
		if certFile == "" {
			return nil, append(warns, "smtpd_tls_security_level = "+level+" without smtpd_tls_cert_file: STARTTLS is disabled")
		}
		cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	}
	if err != nil {
		return nil, append(warns, fmt.Sprintf("cannot load the server certificate, STARTTLS is disabled: %v", err))
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, warns
}

// relayConfig builds the relay's SMTP limits, DSN texts and worker count
// (Policy, Queue, Router, Agent and FastFlushDomains are Load's to fill).
func relayConfig(r *reader) (Config, error) {
	origin, err := r.cf.Origin()
	if err != nil {
		return Config{}, fmt.Errorf("relay: %w", err)
	}
	sleep := r.duration("smtpd_error_sleep_time")
	if sleep == 0 {
		sleep = -1 // Config's zero is the default
	}
	return Config{
		Hostname:             r.str("myhostname"),
		Origin:               origin,
		MailName:             r.str("mail_name"),
		MessageSizeLimit:     r.limit("message_size_limit"),
		RecipientLimit:       r.code("smtpd_recipient_limit"),
		HopCountLimit:        r.code("hopcount_limit"),
		SoftErrorLimit:       r.positive("smtpd_soft_error_limit"),
		HardErrorLimit:       r.positive("smtpd_hard_error_limit"),
		JunkCommandLimit:     r.positive("smtpd_junk_command_limit"),
		ErrorSleep:           sleep,
		SoftBounce:           r.bool("soft_bounce"),
		MaximalQueueLifetime: r.duration("maximal_queue_lifetime"),
		DelayWarningTime:     r.duration("delay_warning_time"),
		Workers:              r.code("default_process_limit"), // Postfix's limit on smtp(8) processes
	}, nil
}

// serverConfig builds the SMTP server's banner, timeout and per-client
// connection limit (MX, TLS and LimitExempt are Load's to fill).
func serverConfig(r *reader) ServerConfig {
	if p := r.str("smtpd_upstream_proxy_protocol"); p != "" && p != "haproxy" {
		r.fail(&maincf.ValueError{Param: "smtpd_upstream_proxy_protocol", Value: p, Reason: "the only protocol is haproxy"})
	}
	perClient := r.code("smtpd_client_connection_count_limit")
	if perClient == 0 {
		perClient = -1 // Postfix: 0 means no limit
	}
	stress := &reader{cf: r.cf.UnderStress()}
	defer func() { r.fail(stress.err()) }()
	return ServerConfig{
		StressTimeout:           stress.duration("smtpd_timeout"),
		StressHardErrorLimit:    stress.positive("smtpd_hard_error_limit"),
		StressJunkCommandLimit:  stress.positive("smtpd_junk_command_limit"),
		Timeout:                 r.duration("smtpd_timeout"),
		MaxConnections:          r.cf.SMTPDProcessLimit(), // master.cf maxproc; 0 keeps the default
		MaxConnectionsPerClient: perClient,
		Banner:                  r.str("smtpd_banner"),
		DisableVRFY:             r.bool("disable_vrfy_command"),
		StrictRFC821:            r.bool("strict_rfc821_envelopes"),
		DiscardEHLOKeywords:     r.list("smtpd_discard_ehlo_keywords"),
		ForbidUnauthPipelining:  r.bool("smtpd_forbid_unauth_pipelining"),
		ProxyProtocol:           r.str("smtpd_upstream_proxy_protocol") == "haproxy",
		ProxyTimeout:            r.duration("smtpd_upstream_proxy_timeout"),
		RecipientOvershootLimit: r.positive("smtpd_recipient_overshoot_limit"),
		NoSMTPUTF8:              !r.bool("smtputf8_enable"),
		MaxLine:                 r.positive("line_length_limit"),
	}
}

// tlsLevel is smtpd_tls_security_level, or what the obsolete
// smtpd_enforce_tls and smtpd_use_tls say when it is empty.
func tlsLevel(r *reader) string {
	level := strings.ToLower(r.str("smtpd_tls_security_level"))
	if level == "" {
		if r.bool("smtpd_enforce_tls") {
			level = "encrypt"
		} else if r.bool("smtpd_use_tls") {
			level = "may"
		}
	}
	return level
}
