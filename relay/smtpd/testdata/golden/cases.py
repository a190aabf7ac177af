"""Session definitions for record.py: one group per JSON file.

A session is {"id", "client", "ehlo", "steps", "note"}; a step is the exact
bytes of one write (str, CRLF included) or a dict {"send": ..., "wait": s,
"note": ...} or {"tls_handshake": True}.  The greeting is read before the
first step.
"""

CRLF = "\r\n"
EHLO = "EHLO client.example\r\n"
HELO = "HELO client.example\r\n"
MAIL = "MAIL FROM:<sender@sender.example>\r\n"
KNOWN = "RCPT TO:<known@relay.example>\r\n"
QUIT = "QUIT\r\n"
STRANGER = "127.0.0.2"
TRUSTED = "127.0.0.1"

# Every group: no error sleep (fast, deterministic sessions), one relay
# domain with one known recipient, and the usual relay restriction.
COMMON_CF = {
    "smtpd_error_sleep_time": "0s",
    "relay_domains": "relay.example",
    "relay_recipient_maps": "hash:{confdir}/relay_recipients",
    "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
}
COMMON_MAPS = {"relay_recipients": "known@relay.example OK\n"}
TLS_CF = {
    "smtpd_tls_cert_file": "{confdir}/cert.pem",
    "smtpd_tls_key_file": "{confdir}/key.pem",
}
TLS_FILES = {"cert.pem": "tls/cert.pem", "key.pem": "tls/key.pem"}


def cf(**extra):
    d = dict(COMMON_CF)
    d.update(extra)
    return d


def S(id, steps, client=STRANGER, ehlo="client.example", note=None):
    s = {"id": id, "client": client, "ehlo": ehlo, "steps": steps}
    if note:
        s["note"] = note
    return s


def mail_session(id, mail_line, client=STRANGER, rcpt=KNOWN, note=None):
    """EHLO, the MAIL command under test, one RCPT, QUIT."""
    steps = [EHLO, mail_line]
    if rcpt:
        steps.append(rcpt)
    steps.append(QUIT)
    return S(id, steps, client=client, note=note)


def rcpt_session(id, rcpt_line, client=STRANGER, note=None):
    return S(id, [EHLO, MAIL, rcpt_line, QUIT], client=client, note=note)


def one(id, line, client=STRANGER, hello=EHLO, note=None):
    """EHLO (or nothing), one command, QUIT."""
    steps = ([hello] if hello else []) + [line, QUIT]
    return S(id, steps, client=client, ehlo="client.example" if hello else None, note=note)


MESSAGE = ("From: <sender@sender.example>\r\n"
           "To: <known@relay.example>\r\n"
           "Subject: golden\r\n"
           "\r\n"
           "A short message.\r\n"
           "..a line that starts with a dot\r\n"
           ".\r\n")

GROUPS = {}

# ---------------------------------------------------------------------------
GROUPS["ehlo"] = {
    "description": "Greeting, EHLO keywords (no TLS), HELO, repeated and malformed HELO/EHLO.",
    "main_cf": cf(),
    "maps": COMMON_MAPS,
    "sessions": [
        S("greeting_quit", [QUIT], ehlo=None),
        S("ehlo", [EHLO, QUIT]),
        S("ehlo_trusted", [EHLO, QUIT], client=TRUSTED),
        S("helo", [HELO, QUIT]),
        S("ehlo_lowercase", ["ehlo client.example\r\n", QUIT]),
        S("ehlo_mixedcase", ["EhLo client.example\r\n", QUIT]),
        S("ehlo_extra_blanks", ["EHLO   client.example  \r\n", QUIT]),
        S("ehlo_twice", [EHLO, "EHLO other.example\r\n", QUIT]),
        S("helo_then_ehlo", [HELO, EHLO, QUIT]),
        S("ehlo_then_helo", [EHLO, HELO, QUIT]),
        S("ehlo_resets_transaction", [EHLO, MAIL, "EHLO other.example\r\n", KNOWN, QUIT],
          note="a second EHLO inside a transaction resets it: the RCPT then needs MAIL"),
        S("helo_resets_transaction", [HELO, MAIL, HELO, KNOWN, QUIT]),
        S("ehlo_no_argument", ["EHLO\r\n", QUIT], ehlo=None),
        S("ehlo_blank_argument", ["EHLO \r\n", QUIT], ehlo=None),
        S("helo_no_argument", ["HELO\r\n", QUIT], ehlo=None),
        S("helo_blank_argument", ["HELO  \r\n", QUIT], ehlo=None),
        S("helo_two_words", ["HELO two words\r\n", MAIL, KNOWN, QUIT], ehlo="two words"),
        S("ehlo_two_words", ["EHLO two words\r\n", MAIL, KNOWN, QUIT], ehlo="two words"),
        S("helo_bad_characters", ["HELO bad_host!name\r\n", MAIL, KNOWN, QUIT], ehlo="bad_host!name"),
        S("helo_address_literal", ["HELO [192.0.2.1]\r\n", MAIL, KNOWN, QUIT], ehlo="[192.0.2.1]"),
        S("helo_bad_address_literal", ["HELO [999.1.1.1]\r\n", MAIL, KNOWN, QUIT], ehlo="[999.1.1.1]"),
        S("helo_bare_ip", ["HELO 192.0.2.1\r\n", MAIL, KNOWN, QUIT], ehlo="192.0.2.1"),
        S("helo_single_label", ["HELO localhost\r\n", MAIL, KNOWN, QUIT], ehlo="localhost"),
        S("ehlo_8bit", ["EHLO caf\u00e9.example\r\n", MAIL, KNOWN, QUIT], ehlo="caf\u00e9.example"),
    ],
}

GROUPS["ehlo_discard"] = {
    "description": "EHLO with smtpd_discard_ehlo_keywords = pipelining,etrn; ETRN still works.",
    "main_cf": cf(smtpd_discard_ehlo_keywords="pipelining,etrn"),
    "maps": COMMON_MAPS,
    "sessions": [
        S("ehlo", [EHLO, QUIT]),
        S("etrn_still_accepted", [EHLO, "ETRN relay.example\r\n", QUIT]),
        S("pipelined_anyway", [EHLO, MAIL + KNOWN + "DATA\r\n", MESSAGE, QUIT],
          note="PIPELINING is not advertised, but smtpd still reads pipelined commands"),
    ],
}

GROUPS["helo_checks"] = {
    "description": "smtpd_helo_required and HELO hostname restrictions (evaluated at RCPT time, "
                   "smtpd_delay_reject = yes).",
    "main_cf": cf(smtpd_helo_required="yes",
                  smtpd_helo_restrictions="reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname"),
    "maps": COMMON_MAPS,
    "sessions": [
        S("mail_before_helo", [MAIL, "HELO client.example\r\n", MAIL, KNOWN, QUIT], ehlo=None),
        S("rcpt_before_helo", [KNOWN, QUIT], ehlo=None),
        S("vrfy_before_helo", ["VRFY known@relay.example\r\n", QUIT], ehlo=None),
        S("etrn_before_helo", ["ETRN relay.example\r\n", QUIT], ehlo=None),
        S("helo_good", [HELO, MAIL, KNOWN, QUIT]),
        S("helo_bad_characters", ["HELO bad_host!name\r\n", MAIL, KNOWN, QUIT], ehlo="bad_host!name"),
        S("helo_two_words", ["HELO two words\r\n", MAIL, KNOWN, QUIT], ehlo="two words"),
        S("helo_single_label", ["HELO localhost\r\n", MAIL, KNOWN, QUIT], ehlo="localhost"),
        S("helo_bare_ip", ["HELO 192.0.2.1\r\n", MAIL, KNOWN, QUIT], ehlo="192.0.2.1"),
        S("helo_address_literal", ["HELO [192.0.2.1]\r\n", MAIL, KNOWN, QUIT], ehlo="[192.0.2.1]"),
        S("helo_bad_address_literal", ["HELO [999.1.1.1]\r\n", MAIL, KNOWN, QUIT], ehlo="[999.1.1.1]"),
        S("helo_trailing_dot", ["HELO client.example.\r\n", MAIL, KNOWN, QUIT], ehlo="client.example."),
        S("helo_bad_trusted", ["HELO bad_host!name\r\n", MAIL, KNOWN, QUIT], client=TRUSTED,
          ehlo="bad_host!name"),
    ],
}

# ---------------------------------------------------------------------------
GROUPS["mail"] = {
    "description": "MAIL FROM address forms and command syntax.",
    "main_cf": cf(),
    "maps": COMMON_MAPS,
    "sessions": [
        mail_session("basic", "MAIL FROM:<a@b.example>\r\n"),
        mail_session("null_sender", "MAIL FROM:<>\r\n"),
        mail_session("unbracketed", "MAIL FROM:a@b.example\r\n"),
        mail_session("blank_after_colon", "MAIL FROM: <a@b.example>\r\n"),
        mail_session("two_blanks_after_verb", "MAIL  FROM:<x>\r\n"),
        mail_session("two_blanks_after_verb_qualified", "MAIL  FROM:<a@b.example>\r\n"),
        mail_session("blank_before_colon", "MAIL FROM :<a@b.example>\r\n"),
        mail_session("trailing_blanks", "MAIL FROM:<a@b.example>  \r\n"),
        mail_session("tab_separator", "MAIL\tFROM:<a@b.example>\r\n"),
        mail_session("lowercase", "mail from:<a@b.example>\r\n"),
        mail_session("mixedcase", "Mail From:<a@b.example>\r\n"),
        mail_session("quoted_local_part", 'MAIL FROM:<"first last"@example.com>\r\n'),
        mail_session("quoted_local_part_unbracketed", 'MAIL FROM:"first last"@example.com\r\n'),
        mail_session("escaped_local_part", "MAIL FROM:<us\\er@example.com>\r\n"),
        mail_session("source_route", "MAIL FROM:<@a,@b:u@c.example>\r\n"),
        mail_session("address_literal", "MAIL FROM:<a@[192.0.2.1]>\r\n"),
        mail_session("trailing_dot_domain", "MAIL FROM:<a@b.example.>\r\n"),
        mail_session("blank_inside_brackets", "MAIL FROM:<a @b.example>\r\n"),
        mail_session("two_at_signs", "MAIL FROM:<a@b@c.example>\r\n"),
        mail_session("unqualified_stranger", "MAIL FROM:<someone>\r\n"),
        mail_session("unqualified_trusted", "MAIL FROM:<someone>\r\n", client=TRUSTED),
        mail_session("unbalanced_open", "MAIL FROM:<a@b\r\n"),
        mail_session("unbalanced_close", "MAIL FROM:a@b.example>\r\n"),
        mail_session("double_brackets", "MAIL FROM:<<a@b.example>>\r\n"),
        mail_session("missing_from", "MAIL <a@b.example>\r\n"),
        mail_session("missing_colon", "MAIL FROM <a@b.example>\r\n"),
        mail_session("empty_after_colon", "MAIL FROM:\r\n"),
        mail_session("bare_mail", "MAIL\r\n"),
        mail_session("utf8_without_smtputf8", "MAIL FROM:<caf\u00e9@b.example>\r\n"),
        mail_session("utf8_with_smtputf8", "MAIL FROM:<caf\u00e9@b.example> SMTPUTF8\r\n"),
        mail_session("long_local_part", "MAIL FROM:<%s@b.example>\r\n" % ("x" * 300)),
        S("mail_twice", [EHLO, MAIL, "MAIL FROM:<other@b.example>\r\n", KNOWN, QUIT]),
        S("mail_before_helo", [MAIL, KNOWN, QUIT], ehlo=None,
          note="smtpd_helo_required = no (default): MAIL before HELO is accepted"),
        S("mail_after_rset", [EHLO, MAIL, "RSET\r\n", "MAIL FROM:<other@b.example>\r\n", KNOWN, QUIT]),
        S("mail_after_rcpt", [EHLO, MAIL, KNOWN, "MAIL FROM:<other@b.example>\r\n", QUIT]),
    ],
}

GROUPS["params"] = {
    "description": "ESMTP parameters of MAIL FROM and RCPT TO (message_size_limit is the default, 10240000).",
    "main_cf": cf(),
    "maps": COMMON_MAPS,
    "sessions": [
        mail_session("size_valid", "MAIL FROM:<a@b.example> SIZE=1000\r\n"),
        mail_session("size_at_limit", "MAIL FROM:<a@b.example> SIZE=10240000\r\n"),
        mail_session("size_over_limit", "MAIL FROM:<a@b.example> SIZE=10240001\r\n"),
        mail_session("size_huge", "MAIL FROM:<a@b.example> SIZE=99999999999999999999\r\n"),
        mail_session("size_garbage", "MAIL FROM:<a@b.example> SIZE=abc\r\n"),
        mail_session("size_negative", "MAIL FROM:<a@b.example> SIZE=-1\r\n"),
        mail_session("size_empty", "MAIL FROM:<a@b.example> SIZE=\r\n"),
        mail_session("size_no_value", "MAIL FROM:<a@b.example> SIZE\r\n"),
        mail_session("size_lowercase", "MAIL FROM:<a@b.example> size=1000\r\n"),
        mail_session("size_twice", "MAIL FROM:<a@b.example> SIZE=1000 SIZE=2000\r\n"),
        mail_session("size_no_blank", "MAIL FROM:<a@b.example>SIZE=1000\r\n"),
        mail_session("body_7bit", "MAIL FROM:<a@b.example> BODY=7BIT\r\n"),
        mail_session("body_8bitmime", "MAIL FROM:<a@b.example> BODY=8BITMIME\r\n"),
        mail_session("body_8bitmime_lowercase", "MAIL FROM:<a@b.example> body=8bitmime\r\n"),
        mail_session("body_binarymime", "MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n"),
        mail_session("body_bogus", "MAIL FROM:<a@b.example> BODY=bogus\r\n"),
        mail_session("body_no_value", "MAIL FROM:<a@b.example> BODY\r\n"),
        mail_session("smtputf8", "MAIL FROM:<a@b.example> SMTPUTF8\r\n"),
        mail_session("smtputf8_with_value", "MAIL FROM:<a@b.example> SMTPUTF8=yes\r\n"),
        mail_session("ret_full", "MAIL FROM:<a@b.example> RET=FULL\r\n"),
        mail_session("ret_hdrs", "MAIL FROM:<a@b.example> RET=HDRS\r\n"),
        mail_session("ret_bogus", "MAIL FROM:<a@b.example> RET=bogus\r\n"),
        mail_session("ret_twice", "MAIL FROM:<a@b.example> RET=FULL RET=HDRS\r\n"),
        mail_session("envid", "MAIL FROM:<a@b.example> ENVID=abc123\r\n"),
        mail_session("envid_xtext", "MAIL FROM:<a@b.example> ENVID=a+2Bb\r\n"),
        mail_session("envid_bad_xtext", "MAIL FROM:<a@b.example> ENVID=a+zz\r\n"),
        mail_session("envid_empty", "MAIL FROM:<a@b.example> ENVID=\r\n"),
        mail_session("auth_null", "MAIL FROM:<a@b.example> AUTH=<>\r\n"),
        mail_session("auth_address", "MAIL FROM:<a@b.example> AUTH=a@b.example\r\n"),
        mail_session("unknown_parameter", "MAIL FROM:<a@b.example> FOO=bar\r\n"),
        mail_session("unknown_parameter_no_value", "MAIL FROM:<a@b.example> FOO\r\n"),
        mail_session("all_parameters",
                     "MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=x1 SMTPUTF8 AUTH=<>\r\n"),
        mail_session("parameters_null_sender", "MAIL FROM:<> SIZE=1000 BODY=7BIT RET=FULL\r\n"),
        rcpt_session("notify_success_failure", "RCPT TO:<known@relay.example> NOTIFY=SUCCESS,FAILURE\r\n"),
        rcpt_session("notify_delay", "RCPT TO:<known@relay.example> NOTIFY=DELAY\r\n"),
        rcpt_session("notify_never", "RCPT TO:<known@relay.example> NOTIFY=NEVER\r\n"),
        rcpt_session("notify_never_and_success", "RCPT TO:<known@relay.example> NOTIFY=NEVER,SUCCESS\r\n"),
        rcpt_session("notify_bogus", "RCPT TO:<known@relay.example> NOTIFY=bogus\r\n"),
        rcpt_session("notify_lowercase", "RCPT TO:<known@relay.example> notify=success\r\n"),
        rcpt_session("notify_twice", "RCPT TO:<known@relay.example> NOTIFY=SUCCESS NOTIFY=FAILURE\r\n"),
        rcpt_session("orcpt_valid", "RCPT TO:<known@relay.example> ORCPT=rfc822;x@y.example\r\n"),
        rcpt_session("orcpt_xtext", "RCPT TO:<known@relay.example> ORCPT=rfc822;x+2By@y.example\r\n"),
        rcpt_session("orcpt_bad_xtext", "RCPT TO:<known@relay.example> ORCPT=rfc822;x+zz@y.example\r\n"),
        rcpt_session("orcpt_no_type", "RCPT TO:<known@relay.example> ORCPT=x@y.example\r\n"),
        rcpt_session("orcpt_other_type", "RCPT TO:<known@relay.example> ORCPT=x400;x@y.example\r\n"),
        rcpt_session("orcpt_and_notify",
                     "RCPT TO:<known@relay.example> NOTIFY=FAILURE ORCPT=rfc822;known@relay.example\r\n"),
        rcpt_session("rcpt_unknown_parameter", "RCPT TO:<known@relay.example> FOO=bar\r\n"),
        rcpt_session("rcpt_parameter_no_value", "RCPT TO:<known@relay.example> FOO\r\n"),
        rcpt_session("rcpt_size_parameter", "RCPT TO:<known@relay.example> SIZE=100\r\n"),
        rcpt_session("rcpt_denied_with_bad_parameter", "RCPT TO:<user@elsewhere.example> FOO=bar\r\n"),
    ],
}

# ---------------------------------------------------------------------------
GROUPS["rcpt"] = {
    "description": "RCPT TO address forms, relay control and relay_recipient_maps.",
    "main_cf": cf(),
    "maps": COMMON_MAPS,
    "sessions": [
        rcpt_session("known_relay_recipient", KNOWN),
        rcpt_session("known_relay_recipient_case", "RCPT TO:<KNOWN@Relay.Example>\r\n"),
        rcpt_session("unknown_relay_recipient", "RCPT TO:<nobody@relay.example>\r\n"),
        rcpt_session("relay_denied", "RCPT TO:<user@elsewhere.example>\r\n"),
        rcpt_session("relay_from_mynetworks", "RCPT TO:<user@elsewhere.example>\r\n", client=TRUSTED),
        rcpt_session("postmaster", "RCPT TO:<postmaster>\r\n"),
        rcpt_session("postmaster_uppercase", "RCPT TO:<POSTMASTER>\r\n"),
        rcpt_session("postmaster_trusted", "RCPT TO:<postmaster>\r\n", client=TRUSTED),
        rcpt_session("postmaster_at_myhostname", "RCPT TO:<postmaster@mx2.oracle.test>\r\n"),
        rcpt_session("postmaster_at_relay_domain", "RCPT TO:<postmaster@relay.example>\r\n"),
        rcpt_session("null_recipient", "RCPT TO:<>\r\n"),
        rcpt_session("empty_after_colon", "RCPT TO:\r\n"),
        rcpt_session("missing_colon", "RCPT TO <known@relay.example>\r\n"),
        rcpt_session("missing_to", "RCPT <known@relay.example>\r\n"),
        rcpt_session("bare_rcpt", "RCPT\r\n"),
        rcpt_session("unbracketed", "RCPT TO:known@relay.example\r\n"),
        rcpt_session("blank_after_colon", "RCPT TO: <known@relay.example>\r\n"),
        rcpt_session("lowercase", "rcpt to:<known@relay.example>\r\n"),
        rcpt_session("unqualified_stranger", "RCPT TO:<user>\r\n"),
        rcpt_session("unqualified_trusted", "RCPT TO:<user>\r\n", client=TRUSTED),
        rcpt_session("unbalanced_open", "RCPT TO:<known@relay.example\r\n"),
        rcpt_session("quoted_local_part", 'RCPT TO:<"first last"@relay.example>\r\n'),
        rcpt_session("quoted_known", 'RCPT TO:<"known"@relay.example>\r\n'),
        rcpt_session("escaped_local_part", "RCPT TO:<us\\er@relay.example>\r\n"),
        rcpt_session("source_route", "RCPT TO:<@a.example,@b.example:known@relay.example>\r\n"),
        rcpt_session("percent_hack", "RCPT TO:<known%relay.example@relay.example>\r\n"),
        rcpt_session("bang_path", "RCPT TO:<elsewhere.example!user@relay.example>\r\n"),
        rcpt_session("address_literal", "RCPT TO:<user@[192.0.2.1]>\r\n"),
        rcpt_session("trailing_dot_domain", "RCPT TO:<known@relay.example.>\r\n"),
        rcpt_session("utf8_recipient", "RCPT TO:<caf\u00e9@relay.example>\r\n"),
        S("rcpt_before_mail", [EHLO, KNOWN, QUIT]),
        S("rcpt_before_helo", [KNOWN, QUIT], ehlo=None),
        S("several_recipients", [EHLO, MAIL, KNOWN, "RCPT TO:<user@elsewhere.example>\r\n",
                                 "RCPT TO:<nobody@relay.example>\r\n", KNOWN, QUIT]),
        S("rcpt_after_null_sender", [EHLO, "MAIL FROM:<>\r\n", KNOWN,
                                     "RCPT TO:<user@elsewhere.example>\r\n", QUIT]),
    ],
}

# ---------------------------------------------------------------------------
GROUPS["data"] = {
    "description": "DATA and BDAT (CHUNKING). Queue IDs in 'queued as' replies are masked as QUEUEID.",
    "main_cf": cf(),
    "maps": COMMON_MAPS,
    "sessions": [
        S("data_without_mail", [EHLO, "DATA\r\n", QUIT]),
        S("data_before_helo", ["DATA\r\n", QUIT], ehlo=None),
        S("data_without_rcpt", [EHLO, MAIL, "DATA\r\n", QUIT]),
        S("data_after_rejected_rcpt", [EHLO, MAIL, "RCPT TO:<user@elsewhere.example>\r\n", "DATA\r\n", QUIT]),
        S("data_with_argument", [EHLO, MAIL, KNOWN, "DATA now\r\n", QUIT]),
        S("data_normal", [EHLO, MAIL, KNOWN, "DATA\r\n", MESSAGE, QUIT]),
        S("data_then_second_transaction", [EHLO, MAIL, KNOWN, "DATA\r\n", MESSAGE, MAIL, KNOWN, "DATA\r\n",
                                           MESSAGE, QUIT]),
        S("data_body_in_two_writes", [EHLO, MAIL, KNOWN, "DATA\r\n",
                                      {"send": "Subject: two writes\r\n\r\nfirst part\r\n", "wait": 1.0},
                                      "second part\r\n.\r\n", QUIT]),
        S("data_lowercase", [EHLO, MAIL, KNOWN, "data\r\n", MESSAGE, QUIT]),
        S("data_empty_message", [EHLO, MAIL, KNOWN, "DATA\r\n", ".\r\n", QUIT]),
        S("data_after_helo", [HELO, MAIL, KNOWN, "DATA\r\n", MESSAGE, QUIT]),
        S("rset_after_data", [EHLO, MAIL, KNOWN, "DATA\r\n", MESSAGE, "RSET\r\n", KNOWN, QUIT]),
        S("bdat_last", [EHLO, MAIL, KNOWN, "BDAT 10 LAST\r\nHi there\r\n", QUIT],
          note="exactly 10 bytes of chunk data in the same write as the command"),
        S("bdat_last_separate_write", [EHLO, MAIL, KNOWN, {"send": "BDAT 10 LAST\r\n", "wait": 1.0},
                                       "Hi there\r\n", QUIT]),
        S("bdat_two_chunks", [EHLO, MAIL, KNOWN, "BDAT 19\r\nSubject: chunks\r\n\r\n",
                              "BDAT 6 LAST\r\nbody\r\n", QUIT]),
        S("bdat_count_too_small", [EHLO, MAIL, KNOWN, "BDAT 4\r\nHi there\r\n", "BDAT 0 LAST\r\n", QUIT],
          note="the bytes after the 4-byte chunk are read as a command"),
        S("bdat_zero_last", [EHLO, MAIL, KNOWN, "BDAT 10\r\nHi there\r\n", "BDAT 0 LAST\r\n", QUIT]),
        S("bdat_lowercase", [EHLO, MAIL, KNOWN, "bdat 10 last\r\nHi there\r\n", QUIT]),
        S("bdat_without_mail", [EHLO, "BDAT 10 LAST\r\nHi there\r\n", QUIT]),
        S("bdat_without_rcpt", [EHLO, MAIL, "BDAT 10 LAST\r\nHi there\r\n", QUIT]),
        S("bdat_after_rejected_rcpt", [EHLO, MAIL, "RCPT TO:<user@elsewhere.example>\r\n",
                                       "BDAT 10 LAST\r\nHi there\r\n", QUIT]),
        S("bdat_after_helo", [HELO, MAIL, KNOWN, "BDAT 10 LAST\r\nHi there\r\n", QUIT]),
        S("bdat_no_size", [EHLO, MAIL, KNOWN, "BDAT\r\n", QUIT]),
        S("bdat_bad_size", [EHLO, MAIL, KNOWN, "BDAT abc\r\n", QUIT]),
        S("bdat_bad_last", [EHLO, MAIL, KNOWN, "BDAT 10 FIRST\r\nHi there\r\n", QUIT]),
        S("bdat_then_data", [EHLO, MAIL, KNOWN, "BDAT 10\r\nHi there\r\n", "DATA\r\n", QUIT]),
        S("bdat_then_rset", [EHLO, MAIL, KNOWN, "BDAT 10\r\nHi there\r\n", "RSET\r\n", MAIL, KNOWN,
                             "BDAT 10 LAST\r\nHi there\r\n", QUIT]),
    ],
}

GROUPS["data_size"] = {
    "description": "message_size_limit = 1000: SIZE and an oversized DATA / BDAT message.",
    "main_cf": cf(message_size_limit="1000"),
    "maps": COMMON_MAPS,
    "sessions": [
        S("ehlo_size", [EHLO, QUIT]),
        mail_session("size_at_limit", "MAIL FROM:<a@b.example> SIZE=1000\r\n"),
        mail_session("size_over_limit", "MAIL FROM:<a@b.example> SIZE=1001\r\n"),
        S("data_over_limit", [EHLO, MAIL, KNOWN, "DATA\r\n",
                              "Subject: big\r\n\r\n" + ("x" * 70 + "\r\n") * 20 + ".\r\n", QUIT]),
        S("bdat_over_limit", [EHLO, MAIL, KNOWN, "BDAT 1440 LAST\r\n" + ("x" * 70 + "\r\n") * 20,
                              QUIT]),
    ],
}

# ---------------------------------------------------------------------------
GROUPS["misc"] = {
    "description": "RSET, NOOP, QUIT, HELP, EXPN, VRFY, ETRN, AUTH, STARTTLS without TLS, "
                   "unknown and malformed commands, forbidden commands.",
    "main_cf": cf(),
    "maps": COMMON_MAPS,
    "sessions": [
        S("rset", [EHLO, MAIL, KNOWN, "RSET\r\n", KNOWN, QUIT]),
        S("rset_with_argument", [EHLO, "RSET now\r\n", QUIT]),
        S("rset_before_helo", ["RSET\r\n", QUIT], ehlo=None),
        one("noop", "NOOP\r\n"),
        one("noop_with_argument", "NOOP hello there\r\n"),
        one("noop_before_helo", "NOOP\r\n", hello=None),
        S("quit_with_argument", [EHLO, "QUIT now\r\n"]),
        S("quit_lowercase", [EHLO, "quit\r\n"]),
        one("help", "HELP\r\n"),
        one("help_with_argument", "HELP MAIL\r\n"),
        one("expn", "EXPN known@relay.example\r\n"),
        one("vrfy_known", "VRFY known@relay.example\r\n"),
        one("vrfy_known_bracketed", "VRFY <known@relay.example>\r\n"),
        one("vrfy_unknown_relay_recipient", "VRFY nobody@relay.example\r\n"),
        one("vrfy_relay_denied", "VRFY user@elsewhere.example\r\n"),
        one("vrfy_relay_trusted", "VRFY user@elsewhere.example\r\n", client=TRUSTED),
        one("vrfy_unqualified", "VRFY user\r\n"),
        one("vrfy_postmaster", "VRFY postmaster\r\n"),
        one("vrfy_no_argument", "VRFY\r\n"),
        one("vrfy_two_words", "VRFY first last\r\n"),
        one("vrfy_before_helo", "VRFY known@relay.example\r\n", hello=None),
        S("vrfy_in_transaction", [EHLO, MAIL, "VRFY known@relay.example\r\n", KNOWN, QUIT]),
        one("etrn_relay_domain", "ETRN relay.example\r\n"),
        one("etrn_relay_domain_trusted", "ETRN relay.example\r\n", client=TRUSTED),
        one("etrn_other_domain", "ETRN elsewhere.example\r\n"),
        one("etrn_subdomain_form", "ETRN @relay.example\r\n"),
        one("etrn_queue_id_form", "ETRN #ABCDEF\r\n"),
        one("etrn_no_argument", "ETRN\r\n"),
        one("etrn_bad_domain", "ETRN bad_domain!\r\n"),
        one("etrn_before_helo", "ETRN relay.example\r\n", hello=None),
        S("etrn_in_transaction", [EHLO, MAIL, "ETRN relay.example\r\n", KNOWN, QUIT]),
        one("auth_without_sasl", "AUTH PLAIN AGFAYg==\r\n"),
        one("auth_no_argument", "AUTH\r\n"),
        one("starttls_without_tls", "STARTTLS\r\n"),
        one("unknown_command", "FOO bar\r\n"),
        one("unknown_command_before_helo", "FOO\r\n", hello=None),
        one("empty_line", "\r\n"),
        one("blank_line", "   \r\n"),
        one("leading_blank", " NOOP\r\n"),
        one("long_line_noop", "NOOP " + "x" * 3000 + "\r\n"),
        one("long_line_2048", "NOOP " + "x" * 2043 + "\r\n",
            note="2048 bytes before CRLF (line_length_limit)"),
        one("long_line_2049", "NOOP " + "x" * 2044 + "\r\n"),
        S("long_mail_2048", [EHLO, "MAIL FROM:<" + "x" * (2048 - 22) + "@b.example>\r\n", KNOWN, QUIT],
          note="2048 bytes before CRLF"),
        S("long_mail_2049", [EHLO, "MAIL FROM:<" + "x" * (2049 - 22) + "@b.example>\r\n", KNOWN, QUIT],
          note="2049 bytes: smtpd keeps the first 2048 (the '>' is lost) and skips the rest of the line"),
        S("long_rcpt_parameter_cut", [EHLO, MAIL, "RCPT TO:<known@relay.example>" + " " * 2100 + "FOO=bar\r\n",
                                      QUIT],
          note="the unsupported parameter lies beyond line_length_limit and is never seen"),
        S("long_line_mail", [EHLO, "MAIL FROM:<" + "x" * 3000 + "@b.example>\r\n", KNOWN, QUIT]),
        one("nul_in_noop", "NOOP a\x00b\r\n"),
        one("nul_in_verb", "NO\x00OP\r\n"),
        S("nul_in_mail", [EHLO, "MAIL FROM:<a\x00@b.example>\r\n", KNOWN, QUIT]),
        one("utf8_in_noop", "NOOP caf\u00e9\r\n"),
        one("latin1_in_noop", b"NOOP caf\xe9\r\n"),
        one("8bit_verb", b"\xffFOO\r\n"),
        S("latin1_in_mail", [EHLO, b"MAIL FROM:<caf\xe9@b.example>\r\n", KNOWN, QUIT]),
        one("bare_lf_command", "NOOP\n"),
        S("bare_lf_session", ["EHLO client.example\n", "MAIL FROM:<a@b.example>\n",
                              "RCPT TO:<known@relay.example>\n", "QUIT\n"]),
        one("bare_cr_in_command", "NOOP a\rb\r\n"),
        one("header_as_command", "Subject: hello\r\n",
            note="a line that looks like a message header ends the session like a forbidden command"),
        one("header_as_command_before_helo", "From: <a@b.example>\r\n", hello=None),
        one("forbidden_get", "GET / HTTP/1.0\r\n"),
        one("forbidden_post", "POST / HTTP/1.0\r\n"),
        one("forbidden_connect", "CONNECT mx.example:25 HTTP/1.0\r\n"),
        one("forbidden_nonletter", "123 hello\r\n"),
        one("xclient_not_authorized", "XCLIENT ADDR=192.0.2.1\r\n"),
        one("xforward_not_authorized", "XFORWARD ADDR=192.0.2.1\r\n"),
        S("pipelined_after_ehlo", [EHLO, MAIL + KNOWN + "DATA\r\n", MESSAGE, QUIT],
          note="no reject_unauth_pipelining here"),
        S("pipelined_after_helo", [HELO, MAIL + KNOWN + "DATA\r\n", MESSAGE, QUIT]),
        S("pipelined_whole_session", [EHLO + MAIL + KNOWN + "DATA\r\n", MESSAGE + QUIT]),
    ],
}

GROUPS["vrfy_disabled"] = {
    "description": "disable_vrfy_command = yes.",
    "main_cf": cf(disable_vrfy_command="yes"),
    "maps": COMMON_MAPS,
    "sessions": [
        S("ehlo", [EHLO, QUIT]),
        one("vrfy_known", "VRFY known@relay.example\r\n"),
        one("vrfy_relay_denied", "VRFY user@elsewhere.example\r\n"),
        one("vrfy_no_argument", "VRFY\r\n"),
        one("vrfy_before_helo", "VRFY known@relay.example\r\n", hello=None),
    ],
}

GROUPS["etrn_flush"] = {
    "description": "fast_flush_domains set apart from relay_domains.",
    "main_cf": cf(fast_flush_domains="flush.example"),
    "maps": COMMON_MAPS,
    "sessions": [
        one("etrn_fast_flush_domain", "ETRN flush.example\r\n"),
        one("etrn_relay_domain_not_fast_flush", "ETRN relay.example\r\n"),
        one("etrn_other", "ETRN elsewhere.example\r\n"),
    ],
}

# ---------------------------------------------------------------------------
LIMITS_CF = cf(smtpd_soft_error_limit="2", smtpd_hard_error_limit="4",
               smtpd_junk_command_limit="3", smtpd_recipient_limit="2")
GROUPS["limits"] = {
    "description": "smtpd_soft_error_limit = 2, smtpd_hard_error_limit = 4, smtpd_junk_command_limit = 3, "
                   "smtpd_recipient_limit = 2 (smtpd_error_sleep_time = 0s).",
    "main_cf": LIMITS_CF,
    "maps": COMMON_MAPS,
    "sessions": [
        S("unknown_commands", [EHLO] + ["FOO\r\n"] * 6),
        S("unknown_commands_one_write", [EHLO, "FOO\r\n" * 6]),
        S("syntax_errors", [EHLO] + ["MAIL FROM:<a@b\r\n"] * 6),
        S("errors_before_helo", ["FOO\r\n"] * 6, ehlo=None),
        S("errors_with_good_commands_between", [EHLO, "FOO\r\n", MAIL, "FOO\r\n", KNOWN, "FOO\r\n",
                                                "RSET\r\n", "FOO\r\n", "NOOP\r\n"]),
        S("rejected_recipients", [EHLO, MAIL] + ["RCPT TO:<user@elsewhere.example>\r\n"] * 6),
        S("unknown_relay_recipients", [EHLO, MAIL] + ["RCPT TO:<nobody@relay.example>\r\n"] * 6),
        S("junk_noop", [EHLO] + ["NOOP\r\n"] * 12),
        S("junk_rset", [EHLO] + ["RSET\r\n"] * 12),
        S("junk_vrfy", [EHLO] + ["VRFY known@relay.example\r\n"] * 12),
        S("junk_helo", [EHLO] + [HELO] * 12),
        S("junk_etrn", [EHLO] + ["ETRN relay.example\r\n"] * 12),
        S("junk_noop_trusted", [EHLO] + ["NOOP\r\n"] * 12, client=TRUSTED),
        S("junk_reset_by_mail", [EHLO, "NOOP\r\n", "NOOP\r\n", "NOOP\r\n", MAIL, KNOWN, "DATA\r\n",
                                 MESSAGE] + ["NOOP\r\n"] * 8),
        S("recipient_limit", [EHLO, MAIL, KNOWN, "RCPT TO:<known@relay.example>\r\n",
                              "RCPT TO:<KNOWN@relay.example>\r\n", "RCPT TO:<nobody@relay.example>\r\n",
                              "DATA\r\n", MESSAGE, QUIT]),
        S("recipient_limit_one_write", [EHLO, MAIL + KNOWN * 5 + "DATA\r\n", MESSAGE, QUIT]),
        S("recipient_limit_resets", [EHLO, MAIL, KNOWN, KNOWN, KNOWN, "RSET\r\n", MAIL, KNOWN, KNOWN,
                                     QUIT]),
        S("recipient_limit_rejected_count", [EHLO, MAIL, "RCPT TO:<user@elsewhere.example>\r\n",
                                             "RCPT TO:<user@elsewhere.example>\r\n", KNOWN, QUIT]),
    ],
}

# ---------------------------------------------------------------------------
PIPE_CF = cf(smtpd_recipient_restrictions=
             "reject_unauth_pipelining, permit_mynetworks, reject_unauth_destination")
GROUPS["pipelining"] = {
    "description": "reject_unauth_pipelining in smtpd_recipient_restrictions.",
    "main_cf": PIPE_CF,
    "maps": COMMON_MAPS,
    "sessions": [
        S("after_helo", [HELO, MAIL + KNOWN + "DATA\r\n", MESSAGE, QUIT]),
        S("after_helo_trusted", [HELO, MAIL + KNOWN + "DATA\r\n", MESSAGE, QUIT], client=TRUSTED),
        S("after_helo_mail_and_rcpt", [HELO, MAIL + KNOWN, KNOWN, QUIT]),
        S("after_helo_lockstep", [HELO, MAIL, KNOWN, "DATA\r\n", MESSAGE, QUIT]),
        S("helo_and_mail_one_write", [HELO + MAIL, KNOWN, QUIT]),
        S("helo_mail_rcpt_one_write", [HELO + MAIL + KNOWN, QUIT]),
        S("after_ehlo", [EHLO, MAIL + KNOWN + "DATA\r\n", MESSAGE, QUIT]),
        S("ehlo_mail_rcpt_one_write", [EHLO + MAIL + KNOWN, QUIT]),
        S("after_ehlo_data_and_message", [EHLO, MAIL, KNOWN, "DATA\r\n" + MESSAGE, QUIT],
          note="the message is sent before the 354 reply"),
        S("after_ehlo_rcpt_after_data", [EHLO, MAIL + "DATA\r\n" + KNOWN, QUIT]),
        S("after_ehlo_bdat", [EHLO, MAIL + KNOWN + "BDAT 10 LAST\r\nHi there\r\n", QUIT]),
        S("after_helo_bdat", [HELO, MAIL + KNOWN + "BDAT 10 LAST\r\nHi there\r\n", QUIT]),
        S("after_ehlo_rset_noop", [EHLO, "RSET\r\nNOOP\r\n" + MAIL + KNOWN, QUIT]),
        S("flag_survives_rset", [HELO, MAIL + KNOWN, "RSET\r\n", MAIL, KNOWN, QUIT],
          note="once flagged, the session stays flagged: the lockstep RCPT after RSET is rejected too"),
        S("flag_survives_ehlo", [HELO, MAIL + KNOWN, EHLO, MAIL, KNOWN, QUIT]),
        S("after_ehlo_vrfy_then_mail", [EHLO, "VRFY known@relay.example\r\n" + MAIL + KNOWN, QUIT],
          note="VRFY may only be the last command of a pipelined group (RFC 2920)"),
        S("no_hello_at_all", [MAIL + KNOWN, QUIT], ehlo=None),
        S("second_transaction_after_helo", [HELO, MAIL, KNOWN, "DATA\r\n", MESSAGE + MAIL + KNOWN, QUIT]),
    ],
}

GROUPS["pipelining_data"] = {
    "description": "reject_unauth_pipelining in smtpd_data_restrictions.",
    "main_cf": cf(smtpd_data_restrictions="reject_unauth_pipelining"),
    "maps": COMMON_MAPS,
    "sessions": [
        S("after_helo", [HELO, MAIL + KNOWN + "DATA\r\n", MESSAGE, QUIT]),
        S("after_helo_trusted", [HELO, MAIL + KNOWN + "DATA\r\n", MESSAGE, QUIT], client=TRUSTED),
        S("after_helo_lockstep", [HELO, MAIL, KNOWN, "DATA\r\n", MESSAGE, QUIT]),
        S("after_ehlo", [EHLO, MAIL + KNOWN + "DATA\r\n", MESSAGE, QUIT]),
        S("after_ehlo_data_and_message", [EHLO, MAIL, KNOWN, "DATA\r\n" + MESSAGE, QUIT],
          note="the message is sent before the 354 reply"),
        S("after_ehlo_data_message_quit", [EHLO, MAIL, KNOWN, "DATA\r\n" + MESSAGE + QUIT]),
        S("after_helo_bdat", [HELO, MAIL + KNOWN + "BDAT 10 LAST\r\nHi there\r\n", QUIT]),
        S("after_ehlo_bdat", [EHLO, MAIL + KNOWN + "BDAT 10 LAST\r\nHi there\r\n", QUIT]),
    ],
}

GROUPS["forbid_pipelining"] = {
    "description": "smtpd_forbid_unauth_pipelining = yes (Postfix 3.7.9 and later; default no in 3.7).",
    "main_cf": cf(smtpd_forbid_unauth_pipelining="yes"),
    "maps": COMMON_MAPS,
    "sessions": [
        S("after_helo", [HELO, MAIL + KNOWN + "DATA\r\n", MESSAGE, QUIT]),
        S("after_ehlo", [EHLO, MAIL + KNOWN + "DATA\r\n", MESSAGE, QUIT]),
        S("helo_and_mail_one_write", [HELO + MAIL, KNOWN, QUIT]),
        S("ehlo_and_mail_one_write", [EHLO + MAIL, KNOWN, QUIT]),
        S("after_ehlo_data_and_message", [EHLO, MAIL, KNOWN, "DATA\r\n" + MESSAGE, QUIT]),
        S("trusted_after_helo", [HELO, MAIL + KNOWN + "DATA\r\n", MESSAGE, QUIT], client=TRUSTED),
    ],
}

# ---------------------------------------------------------------------------
TLS_HS = {"tls_handshake": True}
GROUPS["starttls"] = {
    "description": "smtpd_tls_security_level = may with a self-signed certificate (tls/cert.pem, tls/key.pem). "
                   "A {\"tls_handshake\": true} step is the client's TLS handshake.",
    "main_cf": cf(smtpd_tls_security_level="may", **TLS_CF),
    "maps": COMMON_MAPS,
    "files": TLS_FILES,
    "sessions": [
        S("ehlo", [EHLO, QUIT]),
        S("ehlo_trusted", [EHLO, QUIT], client=TRUSTED),
        S("helo", [HELO, QUIT]),
        S("starttls", [EHLO, "STARTTLS\r\n", TLS_HS, EHLO, MAIL, KNOWN, "DATA\r\n", MESSAGE, QUIT]),
        S("starttls_lowercase", [EHLO, "starttls\r\n", TLS_HS, EHLO, QUIT]),
        S("starttls_injection", [EHLO, "STARTTLS\r\nRSET\r\n", TLS_HS, EHLO, QUIT],
          note="the RSET pipelined after STARTTLS in plaintext must never be answered"),
        S("starttls_injection_mail", [EHLO, "STARTTLS\r\nMAIL FROM:<evil@b.example>\r\n", TLS_HS, EHLO,
                                      KNOWN, QUIT],
          note="the injected MAIL is discarded: the RCPT after the handshake needs MAIL"),
        S("mail_after_starttls_without_ehlo", [EHLO, "STARTTLS\r\n", TLS_HS, MAIL, KNOWN, QUIT],
          note="smtpd_helo_required = no: MAIL after the handshake without a new EHLO"),
        S("starttls_before_ehlo", ["STARTTLS\r\n", TLS_HS, EHLO, QUIT], ehlo=None),
        S("starttls_after_helo", [HELO, "STARTTLS\r\n", TLS_HS, HELO, QUIT]),
        S("starttls_with_argument", [EHLO, "STARTTLS now\r\n", QUIT]),
        S("starttls_in_transaction", [EHLO, MAIL, "STARTTLS\r\n", TLS_HS, KNOWN, EHLO, KNOWN, QUIT],
          note="STARTTLS inside a MAIL transaction is accepted; the transaction does not survive it"),
        S("starttls_twice", [EHLO, "STARTTLS\r\n", TLS_HS, EHLO, "STARTTLS\r\n", QUIT]),
        S("errors_after_starttls", [EHLO, "STARTTLS\r\n", TLS_HS, EHLO, "FOO\r\n", "MAIL FROM:<a@b\r\n",
                                    "VRFY known@relay.example\r\n", "ETRN relay.example\r\n", QUIT]),
        S("auth_after_starttls", [EHLO, "STARTTLS\r\n", TLS_HS, EHLO, "AUTH PLAIN AGFAYg==\r\n", QUIT]),
    ],
}

GROUPS["starttls_encrypt"] = {
    "description": "smtpd_tls_security_level = encrypt.",
    "main_cf": cf(smtpd_tls_security_level="encrypt", **TLS_CF),
    "maps": COMMON_MAPS,
    "files": TLS_FILES,
    "sessions": [
        S("ehlo", [EHLO, QUIT]),
        S("mail_before_starttls", [EHLO, MAIL, KNOWN, "DATA\r\n", QUIT]),
        S("commands_before_starttls", [EHLO, "NOOP\r\n", "RSET\r\n", "VRFY known@relay.example\r\n",
                                       "ETRN relay.example\r\n", "HELP\r\n", "FOO\r\n", QUIT]),
        S("mail_before_starttls_trusted", [EHLO, MAIL, QUIT], client=TRUSTED),
        S("helo_mail_before_starttls", [HELO, MAIL, QUIT]),
        S("starttls_then_mail", [EHLO, "STARTTLS\r\n", TLS_HS, EHLO, MAIL, KNOWN, "DATA\r\n", MESSAGE, QUIT]),
        S("starttls_injection", [EHLO, "STARTTLS\r\nRSET\r\n", TLS_HS, EHLO, QUIT]),
    ],
}

GROUPS["starttls_auth_only"] = {
    "description": "smtpd_tls_security_level = may, smtpd_tls_auth_only = yes, no SASL: EHLO before and after TLS.",
    "main_cf": cf(smtpd_tls_security_level="may", smtpd_tls_auth_only="yes", **TLS_CF),
    "maps": COMMON_MAPS,
    "files": TLS_FILES,
    "sessions": [
        S("ehlo_before_and_after", [EHLO, "STARTTLS\r\n", TLS_HS, EHLO, QUIT]),
    ],
}
