package maincf

// rawParams are the parameters Postfix reads without $name expansion
// (smtpd.c's raw table): their $names are expanded later, per use, with
// other macros (default_rbl_reply's $rbl_code, $client_address...).
// Lookup returns them as written; postconf -x prints them so too.
var rawParams = map[string]bool{
	"default_rbl_reply":   true,
	"smtpd_expand_filter": true,
	"smtpd_reject_footer": true,
}
