package relay

import (
	"context"
	"strings"
	"time"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/relay/cleanup"
)

// verifyConfig reads address verification's parameters: the probes'
// sender (address_verify_sender, qualified with $myorigin as Postfix's
// trivial-rewrite does), the wait (address_verify_poll_count and
// _poll_delay) and the cache times.
func verifyConfig(r *reader) VerifyConfig {
	c := VerifyConfig{
		Sender:          r.str("address_verify_sender"),
		PositiveExpire:  r.duration("address_verify_positive_expire_time"),
		PositiveRefresh: r.duration("address_verify_positive_refresh_time"),
		NegativeExpire:  r.duration("address_verify_negative_expire_time"),
		NegativeRefresh: r.duration("address_verify_negative_refresh_time"),
		NoNegativeCache: !r.bool("address_verify_negative_cache"),
		PendingLimit:    r.code("address_verify_pending_request_limit"),
	}
	switch {
	case c.Sender == "" || c.Sender == "<>":
		c.Sender = "<>"
	case !strings.Contains(c.Sender, "@"):
		c.Sender += "@" + r.str("myorigin")
	}
	if n := r.code("address_verify_poll_count"); n > 1 {
		c.Wait = time.Duration(n-1) * r.duration("address_verify_poll_delay")
	}
	return c
}

// unverified reads the replies of reject_unverified_recipient (prefix
// "unverified_recipient") or reject_unverified_sender.
func unverified(r *reader, prefix string) policy.Unverified {
	return policy.Unverified{
		RejectCode:     r.code(prefix + "_reject_code"),
		DeferCode:      r.code(prefix + "_defer_code"),
		TempfailAction: r.str(prefix + "_tempfail_action"),
		RejectReason:   r.str(prefix + "_reject_reason"),
	}
}

// expandProbe rewrites a probed address as cleanup rewrites a recipient
// (the probe's path in Postfix: verify(8) injects it through cleanup), so
// that an address of a virtual alias domain is verified by probing what
// it expands to. Without rewriting configured, the address is probed as
// it is. BCC recipients are not probes' business and are not added.
func expandProbe(ctx context.Context, cl *cleanup.Cleanup, address string) ([]string, error) {
	if cl == nil || !cl.Rewrites() {
		return []string{address}, nil
	}
	rs, err := cl.Recipients(ctx, "", []string{address})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Address)
	}
	return out, nil
}
