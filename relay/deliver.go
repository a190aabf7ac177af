package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mxrelay/mxrelay/lookup"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maillog"
	"github.com/mxrelay/mxrelay/transport"
	"github.com/mxrelay/mxrelay/transport/client"
)

// Run delivers queued mail until ctx is done, with Config.Workers
// workers: each claims a due message, routes every pending recipient,
// delivers once per distinct route, records the per-recipient outcomes
// (2xx delivered, 4xx deferred with backoff, 5xx bounced), sends the
// DSNs those outcomes call for through the same queue, and removes the
// message once no recipient is pending. When ctx is done Run stops
// claiming and cancels the deliveries in progress (their messages stay
// queued and are tried again), then returns ctx's error.
func (r *MX) Run(ctx context.Context) error {
	return r.run(ctx, ctx)
}

// run claims until claimCtx is done; deliveries run under deliverCtx.
func (r *MX) run(claimCtx, deliverCtx context.Context) error {
	if r.c.Router == nil || r.c.Agent == nil {
		return errors.New("relay: Run needs Config.Router and Config.Agent")
	}
	var wg sync.WaitGroup
	for range r.c.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				d, err := r.c.Queue.Next(claimCtx)
				if err != nil {
					if claimCtx.Err() != nil {
						return
					}
					r.logFailure("queue claim failed", "err", err)
					sleepCtx(claimCtx, time.Second)
					continue
				}
				r.process(deliverCtx, d)
			}
		}()
	}
	wg.Wait()
	return claimCtx.Err()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// attemptResult is what the delivery of one recipient gave this round.
type attemptResult struct {
	res       transport.RecipientResult
	transport string
	tried     bool
	// handoff and done bound the delivery (zero when none was made),
	// for Postfix's delays=.
	handoff, done time.Time
}

// process delivers one claimed message.
func (r *MX) process(ctx context.Context, d *queue.Delivery) {
	env := &d.Envelope
	claimed := r.c.Now()
	// Final recipients without the Notified mark: an earlier worker died
	// after Done and before it queued their DSNs (or marked them). Notify
	// them first, as queue.Scheduler.MarkNotified documents; with nothing
	// left to attempt, that also removes the message.
	if u := env.Unnotified(); len(u) > 0 || len(d.Attempt) == 0 {
		rep := queue.Report{Envelope: *env, Final: len(d.Attempt) == 0 && env.Final()}
		for _, i := range u {
			switch env.Recipients[i].State {
			case queue.Failed:
				rep.Failed = append(rep.Failed, i)
			case queue.Expired:
				rep.Expired = append(rep.Expired, i)
			case queue.Delivered:
				rep.Delivered = append(rep.Delivered, i)
			}
		}
		if !r.notify(ctx, d, rep, nil) || len(d.Attempt) == 0 {
			return
		}
	}
	results := make(map[int]*attemptResult, len(d.Attempt))
	outcomes := make([]queue.Outcome, 0, len(d.Attempt))
	r.logActive(ctx, env)

	var groups []*routeGroup
	byKey := make(map[string]*routeGroup)
	for _, i := range d.Attempt {
		rt, err := r.route(ctx, env, env.Recipients[i].Address)
		if err != nil {
			res := transport.RecipientResult{Recipient: env.Recipients[i].Address, Status: client.Deferred, Err: err}
			var le *lookup.Error
			switch {
			case !transport.IsTemporary(err):
				res.Status = client.Failed
			case errors.As(err, &le):
				// A table that cannot be read: the cause (table, path)
				// is logged, senders read Postfix's words in DSNs.
				r.log.Warn("address resolver failure", "queue_id", env.ID, "to", res.Recipient, "err", err)
				res.Err = &transport.Error{Code: 451, Status: "4.3.0", Text: "address resolver failure"}
			}
			results[i] = &attemptResult{res: res, tried: true}
			continue
		}
		// Destinations compare case-insensitively, as Postfix's queue names do.
		key := fmt.Sprintf("%s\x00%s\x00%t", rt.Transport, strings.ToLower(rt.Nexthop), rt.Relayhost)
		g := byKey[key]
		if g == nil {
			g = &routeGroup{route: rt}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.idx = append(g.idx, i)
	}
	if len(groups) > 0 {
		body, release, err := r.openBody(ctx, env)
		if err == nil {
			defer release()
		}
		if err != nil {
			r.logFailure("cannot read queued message", "queue_id", env.ID, "err", err)
			for _, g := range groups {
				for _, i := range g.idx {
					results[i] = &attemptResult{tried: true, res: transport.RecipientResult{
						Recipient: env.Recipients[i].Address, Status: client.Deferred,
						// The cause (paths, errno) is logged above, not told
						// to senders in DSNs.
						Err: &transport.Error{Code: 451, Status: "4.3.0", Text: "queue file read error"}}}
				}
			}
			groups = nil
		}
		// The destinations of one message are tried at once, as Postfix's
		// queue manager hands each to a delivery agent of its own: a
		// destination that hangs does not delay the others' deliveries.
		// Their outcomes are still recorded together when the slowest
		// ends (Queue.Done is per message). The body is an io.ReaderAt,
		// safe for concurrent reads.
		if len(groups) == 1 { // the common case needs no goroutine
			groups[0].results = r.deliverGroup(ctx, env, body, groups[0])
		} else {
			var wg sync.WaitGroup
			for _, g := range groups {
				wg.Add(1)
				go func() {
					defer wg.Done()
					g.results = r.deliverGroup(ctx, env, body, g)
				}()
			}
			wg.Wait()
		}
		for _, g := range groups {
			for j, i := range g.idx {
				results[i] = g.results[j]
			}
		}
	}
	for _, i := range d.Attempt {
		ar := results[i]
		outcomes = append(outcomes, r.outcome(i, ar.res))
	}
	// Everything delivered and no notification due: remove the message
	// at once (queue.Scheduler.Finish), as Postfix's qmgr deletes a
	// finished queue file.
	if rep, ok, err := r.c.Queue.Finish(ctx, d, outcomes); ok && err == nil {
		r.logAttempts(rep, d.Attempt, results, claimed)
		r.log.Info(maillog.Removed, maillog.KeyQueueID, string(env.ID))
		return
	} else if ok {
		r.logFailure("cannot remove a delivered message; recording its outcome", "queue_id", env.ID, "err", err)
	}
	rep, err := r.c.Queue.Done(ctx, d, outcomes)
	if err != nil {
		r.logFailure("cannot record delivery outcome", "queue_id", env.ID, "err", err)
		return
	}
	r.logAttempts(rep, d.Attempt, results, claimed)
	r.notify(ctx, d, rep, results)
}

// outcome maps a delivery result to the queue's outcome.
func (r *MX) outcome(i int, res transport.RecipientResult) queue.Outcome {
	o := queue.Outcome{Recipient: i, Reason: reasonText(res), Status: res.Enhanced()}
	switch res.Status {
	case client.Delivered:
		o.State = queue.Delivered
	case client.Failed:
		o.State = queue.Failed
		if r.c.SoftBounce {
			o.State = queue.Deferred
		}
	default:
		o.State = queue.Deferred
		o.Site = res.Stage >= client.StageConnect && res.Stage <= client.StageStartTLS
	}
	return o
}

// reasonText is the reason as Postfix logs it: the reply for a delivery,
// the explanation otherwise.
func reasonText(res transport.RecipientResult) string {
	if res.Status == client.Delivered && res.Reply.Code != 0 {
		return res.Reply.String()
	}
	return res.Text()
}

func clientRecipient(rc queue.Recipient) client.Recipient {
	out := client.Recipient{Address: rc.Address}
	if rc.Notify != 0 {
		var parts []string
		if rc.Notify&queue.NotifyNever != 0 {
			parts = []string{"NEVER"}
		} else {
			if rc.Notify&queue.NotifySuccess != 0 {
				parts = append(parts, "SUCCESS")
			}
			if rc.Notify&queue.NotifyFailure != 0 {
				parts = append(parts, "FAILURE")
			}
			if rc.Notify&queue.NotifyDelay != 0 {
				parts = append(parts, "DELAY")
			}
		}
		out.Notify = strings.Join(parts, ",")
	}
	if typ, addr, ok := strings.Cut(rc.ORCPT, ";"); ok {
		out.ORcptType, out.ORcpt = strings.TrimSpace(typ), strings.TrimSpace(addr)
	} else {
		// Postfix adds ORCPT when relaying (smtp_proto.c).
		out.ORcpt = rc.Address
	}
	return out
}

// memoryBodyLimit is the largest body a delivery holds in memory; larger
// ones are copied to a temporary file, so that workers x message size
// does not become the relay's memory footprint.
const memoryBodyLimit = 1 << 20

// openBody returns the message body as an io.ReaderAt (the client reads
// it once per session) and a function that releases it.
func (r *MX) openBody(ctx context.Context, env *queue.Envelope) (io.ReaderAt, func(), error) {
	rc, err := r.c.Queue.Body(ctx, env.ID)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	src := io.LimitReader(rc, env.Size+1)
	if env.Size <= memoryBodyLimit {
		// A pooled buffer: each delivery of a 100 KiB message would
		// otherwise allocate (and collect) 100 KiB.
		bp, _ := r.bodies.Get().(*[]byte)
		if bp == nil {
			bp = new([]byte)
		}
		release := func() { r.bodies.Put(bp) }
		b := (*bp)[:0]
		if int64(cap(b)) < env.Size+1 {
			b = make([]byte, 0, env.Size+1) // +1: room to see a body longer than recorded
		}
		b, err := readAllInto(b, src)
		*bp = b
		if err != nil {
			release()
			return nil, nil, err
		}
		if int64(len(b)) != env.Size {
			release()
			return nil, nil, fmt.Errorf("queued body is %d bytes, envelope says %d", len(b), env.Size)
		}
		return bytes.NewReader(b), release, nil
	}
	f, err := os.CreateTemp("", "mxrelay-body-")
	if err != nil {
		return nil, nil, err
	}
	release := func() {
		f.Close()
		os.Remove(f.Name())
	}
	n, err := io.Copy(f, src)
	if err == nil && n != env.Size {
		err = fmt.Errorf("queued body is %d bytes, envelope says %d", n, env.Size)
	}
	if err != nil {
		release()
		return nil, nil, err
	}
	return f, release, nil
}

// relayString formats the peer as Postfix's relay= field: "none" when
// no session was made (a connection that failed counts as none, as the
// smtp client logs it; the reason names the host).
func relayString(res transport.RecipientResult) string {
	if res.Host == "" && res.Addr == "" || res.Stage == client.StageConnect {
		return "none"
	}
	host, port, err := net.SplitHostPort(res.Addr)
	if err != nil {
		return fmt.Sprintf("%s[%s]", res.Host, res.Addr)
	}
	return fmt.Sprintf("%s[%s]:%s", res.Host, host, port)
}

// logAttempts writes one line per recipient attempted (and per recipient
// expired), as Postfix's log_adhoc.c, and tells the observer; claimed is
// when the message was claimed (Postfix: entered the active queue).
func (r *MX) logAttempts(rep queue.Report, attempted []int, results map[int]*attemptResult, claimed time.Time) {
	env := &rep.Envelope
	now := r.c.Now()
	expired := make(map[int]bool, len(rep.Expired))
	for _, i := range rep.Expired {
		expired[i] = true
	}
	seen := make(map[int]bool)
	emit := func(i int) {
		if seen[i] {
			return
		}
		seen[i] = true
		a := r.attempt(env, i, results[i], expired[i], claimed, now)
		if results[i] == nil && slices.Contains(rep.Suspended, i) {
			a.Cause = "suspended"
		}
		if a.Status == "expired" && results[i] != nil && results[i].tried {
			// Tried and deferred in this round, then past its lifetime:
			// the attempt's line first, as Postfix's delivery agent logs
			// it before qmgr returns the message.
			d := a
			d.Status = "deferred"
			r.logAttempt(d)
		}
		r.logAttempt(a)
		r.obs.Attempted(a)
	}
	for _, i := range attempted {
		emit(i)
	}
	for _, i := range rep.Suspended {
		emit(i)
	}
	for _, i := range rep.Expired {
		emit(i)
	}
	if len(rep.Expired) > 0 {
		r.log.Info(maillog.Expired, maillog.KeyQueueID, string(env.ID), maillog.KeyFrom, env.Sender)
	}
}

// Suspended logs the status of the recipients of a message that the
// queue deferred without handing it out, because their destination is
// suspended (Postfix: "status=deferred (delivery temporarily suspended:
// ...)"), and tells the observer. Load gives it to queue.Config.Suspended;
// a relay composed by hand should do the same.
func (r *MX) Suspended(rep queue.Report) {
	now := r.c.Now()
	r.logActive(context.Background(), &rep.Envelope)
	r.logAttempts(rep, nil, nil, now)
}

// logActive logs a message taken for delivery, as Postfix's qmgr logs
// one entering the active queue: "from=<>, size=N, nrcpt=N (queue
// active)".
func (r *MX) logActive(ctx context.Context, env *queue.Envelope) {
	r.log.LogAttrs(ctx, slog.LevelInfo, maillog.Active, slog.String(maillog.KeyQueueID, string(env.ID)),
		slog.String(maillog.KeyFrom, env.Sender), slog.Int64(maillog.KeySize, env.Size),
		slog.Int(maillog.KeyNrcpt, len(env.Recipients)))
}

// attempt describes the outcome for recipient i.
func (r *MX) attempt(env *queue.Envelope, i int, ar *attemptResult, expired bool, claimed, now time.Time) Attempt {
	rc := env.Recipients[i]
	a := Attempt{QueueID: string(env.ID), Recipient: rc.Address, Delay: now.Sub(env.Arrival), Relay: "none", Reason: rc.Reason}
	if o, ok := strings.CutPrefix(rc.ORCPT, "rfc822;"); ok && !strings.EqualFold(o, rc.Address) {
		a.ORCPT = o
	}
	// delays=a/b/c/d: the transport reports no connection set-up time,
	// so c stays 0 and d is the whole delivery.
	a.Delays.Queue = claimed.Sub(env.Arrival)
	a.Delays.Scheduler = now.Sub(claimed)
	if ar != nil {
		a.Relay, a.Transport = relayString(ar.res), ar.transport
		a.DSN = ar.res.Enhanced()
		if ar.res.Discarded {
			a.Status = "discarded"
		}
		if c := causeOf(ar.res.Err); c != "other" {
			a.Cause = c // not a next hop's refusal or a connection failure
		}
		if !ar.handoff.IsZero() {
			a.Delays.Scheduler = ar.handoff.Sub(claimed)
			a.Delays.Transmission = ar.done.Sub(ar.handoff)
		}
	}
	if a.DSN == "" {
		a.DSN = recordedStatus(rc, "4.0.0")
	}
	if a.Status == "" {
		switch {
		case expired:
			a.Status = "expired"
		case rc.State == queue.Delivered:
			a.Status = "sent"
		case rc.State == queue.Failed:
			a.Status = "bounced"
		default:
			a.Status = "deferred"
		}
	}
	return a
}

// causeOf classifies a failure of this side: a table lookup ("table"), a
// DNS lookup that failed for now ("dns"), something else ("other"), or
// none ("").
func causeOf(err error) string {
	var le *lookup.Error
	var de *transport.DNSError
	var ne *net.DNSError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &le):
		return "table"
	case errors.As(err, &de) || errors.As(err, &ne):
		if !transport.IsTemporary(err) {
			return "" // a name that does not exist: an answer, not a failure
		}
		return "dns"
	}
	return "other"
}

// logAttempt writes Postfix's delivery status line for a.
func (r *MX) logAttempt(a Attempt) {
	if !r.log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 11)
	attrs = append(attrs, slog.String(maillog.KeyQueueID, a.QueueID), slog.String(maillog.KeyTo, a.Recipient))
	if a.ORCPT != "" {
		attrs = append(attrs, slog.String(maillog.KeyOrigTo, a.ORCPT))
	}
	attrs = append(attrs, slog.String(maillog.KeyRelay, a.Relay), slog.String(maillog.KeyDelay, maillog.FormatDelay(a.Delay)),
		slog.String(maillog.KeyDelays, a.Delays.String()), slog.String(maillog.KeyDSN, a.DSN),
		slog.String(maillog.KeyStatus, a.Status), slog.String(maillog.KeyReason, a.Reason))
	if a.Transport != "" {
		attrs = append(attrs, slog.String(maillog.KeyTransport, a.Transport))
	}
	r.log.LogAttrs(context.Background(), slog.LevelInfo, maillog.Delivery, attrs...)
}

// notify sends the DSNs a Done report calls for, then removes the message
// when it is final.
func (r *MX) notify(ctx context.Context, d *queue.Delivery, rep queue.Report, results map[int]*attemptResult) bool {
	env := &rep.Envelope
	var failed, delayed, success []int
	for _, i := range append(append([]int(nil), rep.Failed...), rep.Expired...) {
		if wants(env.Recipients[i].Notify, queue.NotifyFailure) {
			failed = append(failed, i)
		}
	}
	for _, i := range rep.DelayWarning {
		if wants(env.Recipients[i].Notify, queue.NotifyDelay) {
			delayed = append(delayed, i)
		}
	}
	for _, i := range rep.Delivered {
		if wants(env.Recipients[i].Notify, queue.NotifySuccess) {
			success = append(success, i)
		}
	}
	ok := true
	for _, k := range []struct {
		kind DSNKind
		idx  []int
	}{{DSNFailure, failed}, {DSNDelay, delayed}, {DSNSuccess, success}} {
		if len(k.idx) == 0 {
			continue
		}
		if env.Sender == "" {
			// Never a DSN to the null sender (bounce_notify_service.c).
			// Debug: Postfix logs no line for it.
			r.log.Debug("not sending a notification to the null sender", "queue_id", env.ID, "kind", k.kind.String())
			continue
		}
		if err := r.sendDSN(ctx, env, k.kind, k.idx, results); err != nil {
			ok = false
			r.logFailure("cannot queue a delivery status notification", "queue_id", env.ID, "kind", k.kind.String(), "err", err)
		}
	}
	if !ok {
		return false // unmarked: the next claim of the message tries again
	}
	// Every final recipient of this report is dealt with (a DSN queued,
	// or none wanted): mark them in one durable write, so that a worker
	// dying from here on sends no DSN twice.
	done := append(append(append([]int(nil), rep.Failed...), rep.Expired...), rep.Delivered...)
	if err := r.c.Queue.MarkNotified(ctx, d, done); err != nil {
		r.logFailure("cannot record that senders were notified", "queue_id", env.ID, "err", err)
		return false
	}
	if rep.Final {
		if err := r.c.Queue.Remove(ctx, d); err != nil {
			r.logFailure("cannot remove a delivered message", "queue_id", env.ID, "err", err)
			return false
		}
		r.log.Info(maillog.Removed, maillog.KeyQueueID, string(env.ID))
	}
	return true
}

// wants reports whether a recipient's NOTIFY asks for a notification of
// the given kind; an absent NOTIFY means failure and delay (RFC 3461).
func wants(n, kind queue.Notify) bool {
	if n&queue.NotifyNever != 0 {
		return false
	}
	if n == 0 {
		return kind == queue.NotifyFailure || kind == queue.NotifyDelay
	}
	return n&kind != 0
}

// String names the kind for logs.
func (k DSNKind) String() string {
	switch k {
	case DSNDelay:
		return "delay"
	case DSNSuccess:
		return "success"
	}
	return "failure"
}

// sendDSN builds a DSN for the recipients idx and queues it from <>.
func (r *MX) sendDSN(ctx context.Context, env *queue.Envelope, kind DSNKind, idx []int, results map[int]*attemptResult) error {
	now := r.c.Now()
	dsnID := queue.NewID()
	dsn := &DSN{
		Kind: kind, Hostname: r.c.Hostname, Origin: r.c.Origin, QueueID: string(env.ID), ID: string(dsnID), Sender: env.Sender,
		EnvID: env.EnvID, Arrival: env.Arrival, Date: now, Ret: env.Ret, SMTPUTF8: env.SMTPUTF8,
		DelayWarningTime: r.c.DelayWarningTime, MaximalQueueLifetime: r.c.MaximalQueueLifetime,
	}
	if kind == DSNDelay {
		dsn.WillRetryUntil = env.Arrival.Add(r.c.MaximalQueueLifetime)
		// Per-domain lifetimes (queue.Config.Domains) apply to each
		// recipient; the text quotes the longest.
		dsn.MaximalQueueLifetime = 0
	}
	for _, i := range idx {
		rc := env.Recipients[i]
		dr := DSNRecipient{Address: rc.Address, ORCPT: rc.ORCPT, Reason: rc.Reason}
		if kind == DSNDelay {
			life := r.c.Queue.Lifetimes(rc.Address).Maximal
			dr.WillRetryUntil = env.Arrival.Add(life)
			dsn.MaximalQueueLifetime = max(dsn.MaximalQueueLifetime, life)
		}
		def := "5.0.0"
		switch kind {
		case DSNDelay:
			def = "4.0.0"
		case DSNSuccess:
			def = "2.0.0"
		}
		dr.Status = recordedStatus(rc, def)
		if ar := results[i]; ar != nil {
			if st := ar.res.Enhanced(); st != "" {
				dr.Status = st
			}
			if ar.res.Reply.Code != 0 {
				dr.RemoteMTA = ar.res.Host
				dr.Diagnostic = ar.res.Reply.String()
			}
		}
		if rc.ORCPT != "" && !strings.Contains(rc.ORCPT, ";") {
			dr.ORCPT = "rfc822;" + rc.ORCPT
		}
		dsn.Recipients = append(dsn.Recipients, dr)
	}
	var orig io.Reader
	if rc, err := r.c.Queue.Body(ctx, env.ID); err == nil {
		defer rc.Close()
		orig = rc
	}
	var buf bytes.Buffer
	if err := dsn.Write(&buf, orig); err != nil {
		return err
	}
	b := &queue.Envelope{
		ID:         dsnID,
		Sender:     "",
		Recipients: []queue.Recipient{{Address: env.Sender}},
		SMTPUTF8:   env.SMTPUTF8,
	}
	// Postfix's cleanup logs the notification's Message-Id as it makes it.
	r.log.Info(maillog.MessageID, maillog.KeyQueueID, string(dsnID), maillog.KeyMessageID, dsn.MessageID())
	if err := r.c.Queue.Store(ctx, b, &buf); err != nil {
		return err
	}
	r.log.Info(maillog.Notification, maillog.KeyQueueID, string(env.ID), maillog.KeyKind, kind.String(),
		maillog.KeyNotificationID, string(b.ID), maillog.KeyTo, env.Sender)
	return nil
}

// logFailure logs a failure of the delivery loop at ERROR, or at INFO when
// it is only the loop being stopped (a cancelled context at shutdown): what
// was cut stays queued and is retried, and an admin's alerts should not
// fire for a graceful stop.
func (r *MX) logFailure(msg string, attrs ...any) {
	for i := 0; i+1 < len(attrs); i += 2 {
		if err, ok := attrs[i+1].(error); ok && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			r.log.Info(msg+" (stopping)", attrs...)
			return
		}
	}
	r.log.Error(msg, attrs...)
}

// routeGroup is the recipients of a message that share a route (transport
// and next hop), delivered in one transaction, and their results.
type routeGroup struct {
	route   transport.Route
	idx     []int            // indexes into the envelope's recipients
	results []*attemptResult // aligned with idx, set by deliverGroup
}

// deliverGroup delivers the message to one group's recipients and returns
// their results, aligned with g.idx: in deliveries of at most the
// transport's recipient limit (Config.RecipientLimits), one after
// another, as Postfix's queue manager splits a message's recipients for
// one destination.
func (r *MX) deliverGroup(ctx context.Context, env *queue.Envelope, body io.ReaderAt, g *routeGroup) []*attemptResult {
	limit := r.c.DefaultRecipientLimit
	if n, ok := r.c.RecipientLimits[g.route.Transport]; ok {
		limit = n
	}
	if limit <= 0 || len(g.idx) <= limit {
		return r.deliverTransaction(ctx, env, body, g)
	}
	out := make([]*attemptResult, 0, len(g.idx))
	for start := 0; start < len(g.idx); start += limit {
		sub := &routeGroup{route: g.route, idx: g.idx[start:min(start+limit, len(g.idx))]}
		out = append(out, r.deliverTransaction(ctx, env, body, sub)...)
	}
	return out
}

// deliverTransaction delivers the message to g's recipients in one
// delivery and returns their results, aligned with g.idx.
func (r *MX) deliverTransaction(ctx context.Context, env *queue.Envelope, body io.ReaderAt, g *routeGroup) []*attemptResult {
	msg := &client.Message{From: env.Sender, Body: body, Size: env.Size, SMTPUTF8: env.SMTPUTF8, EnvID: env.EnvID,
		XForward: xforward(env)}
	switch env.Ret {
	case queue.RetFull:
		msg.Ret = "FULL"
	case queue.RetHdrs:
		msg.Ret = "HDRS"
	}
	for _, i := range g.idx {
		msg.Recipients = append(msg.Recipients, clientRecipient(env.Recipients[i]))
	}
	if failed := r.checkDelivery(ctx, env, g, msg); failed != nil {
		return failed
	}
	handoff := r.c.Now()
	del := r.c.Agent.Deliver(ctx, g.route, msg)
	done := r.c.Now()
	out := make([]*attemptResult, len(g.idx))
	for j, i := range g.idx {
		ar := &attemptResult{transport: g.route.Transport, tried: true, handoff: handoff, done: done}
		if del != nil && j < len(del.Recipients) {
			ar.res = del.Recipients[j]
		} else {
			ar.res = transport.RecipientResult{Recipient: env.Recipients[i].Address, Status: client.Deferred,
				Err: &transport.Error{Code: 451, Status: "4.3.0", Text: "no delivery result"}}
		}
		out[j] = ar
	}
	return out
}

// readAllInto appends r's content to b, as io.ReadAll does into a fresh
// slice.
func readAllInto(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}
