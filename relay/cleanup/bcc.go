package cleanup

import (
	"context"

	"github.com/mxrelay/mxrelay/lookup"
)

// findBcc looks an address up in sender_bcc_maps or recipient_bcc_maps
// with the recipient keys of mail_addr_find (user+ext@domain,
// user@domain, the bare localpart of local domains, @domain). The value
// is one address, used as it is. "": none.
func (cl *Cleanup) findBcc(ctx context.Context, tables []lookup.Table, param, addr string) (string, error) {
	o, err := cl.keyOptions(ctx, addr)
	if err != nil {
		return "", err
	}
	var kb [12]lookup.Key
	res, found, err := lookup.SearchAddress(ctx, tables, lookup.AppendRecipientKeys(kb[:0], addr, o))
	if err != nil || !found {
		return "", err
	}
	return res.Value, nil
}

// tableFailure logs Postfix's warning for a failed lookup and refuses
// the message with 451 4.3.0, as CLEANUP_STAT_WRITE.
func (cl *Cleanup) tableFailure(queueID, param, addr string, err error) error {
	cl.log.Warn(queueID+": "+param+" map lookup problem for "+addr+" -- message not accepted, try again later", "queue_id", queueID, "err", err)
	return &Error{Code: 451, Status: "4.3.0", Message: "Error: queue file write error", Why: param + " map lookup problem for " + addr, Err: err}
}
