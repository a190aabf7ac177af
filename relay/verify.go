package relay

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/transport"
	"github.com/mxrelay/mxrelay/transport/client"
)

// VerifyConfig configures address verification (reject_unverified_recipient
// and reject_unverified_sender), Postfix's verify(8): a probe goes to the
// next hop the mail would take (MAIL FROM, RCPT TO, no DATA), and its
// answer is cached.
type VerifyConfig struct {
	// Sender is the probes' envelope sender. Default
	// "double-bounce@$myorigin", as Postfix's address_verify_sender
	// ($double_bounce_sender); "<>" is the null sender.
	Sender string
	// Wait is how long a check waits for the probe it started before it
	// answers "Address verification in progress". Postfix polls
	// address_verify_poll_count times, address_verify_poll_delay apart
	// (3 and 3s: up to 6s); mxrelay waits up to (count-1)*delay but
	// answers as soon as the probe does.
	Wait time.Duration
	// PositiveExpire and PositiveRefresh: a deliverable answer is kept
	// this long, and probed again in the background when older than the
	// refresh time. Defaults 31d and 7d, as Postfix's
	// address_verify_positive_expire_time and _refresh_time.
	PositiveExpire, PositiveRefresh time.Duration
	// NegativeExpire and NegativeRefresh are the same for undeliverable
	// and deferred answers. Defaults 3d and 3h, as
	// address_verify_negative_expire_time and _refresh_time.
	NegativeExpire, NegativeRefresh time.Duration
	// NoNegativeCache keeps no undeliverable answer
	// (address_verify_negative_cache = no).
	NoNegativeCache bool
	// PendingLimit caps the probes under way; past it, checks answer
	// "in progress" without probing. Default 5000, as Postfix's
	// address_verify_pending_request_limit.
	PendingLimit int
	// MaxEntries caps the cache (Postfix's is a file without a cap); the
	// oldest answers go first. Default 100,000.
	MaxEntries int
	// ProbeTimeout bounds one probe. Default 5 minutes (each SMTP stage
	// has its own timeout too).
	ProbeTimeout time.Duration
	// CachePath keeps the answers in a file across restarts, as
	// Postfix's address_verify_map (btree:$data_directory/verify_cache);
	// mxrelayd uses verify_cache in its queue directory. Empty: memory
	// only, and a restart probes again.
	CachePath string
	// Expand rewrites a probed address as the cleanup stage rewrites a
	// recipient (canonical maps, virtual_alias_maps): each address it
	// returns is probed, and the address's answer is the worst of theirs
	// (undeliverable, then deferred, then deliverable). Postfix's probe
	// goes through cleanup too, and each expansion's delivery updates
	// the original address's entry (verify_append in verify.c), so there
	// the last expansion to finish wins; mxrelay's answer does not
	// depend on that race. Nil: the address is probed as it is.
	Expand func(ctx context.Context, address string) ([]string, error)
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
}

func (c *VerifyConfig) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.PositiveExpire, 31*24*time.Hour)
	set(&c.PositiveRefresh, 7*24*time.Hour)
	set(&c.NegativeExpire, 3*24*time.Hour)
	set(&c.NegativeRefresh, 3*time.Hour)
	set(&c.ProbeTimeout, 5*time.Minute)
	if c.PendingLimit <= 0 {
		c.PendingLimit = 5000
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = 100000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sender == "<>" {
		c.Sender = ""
	}
}

// Verifier is Postfix's verify(8) on transport: it implements
// policy.Verifier for reject_unverified_recipient and
// reject_unverified_sender. Its probes run in goroutines it owns; Close
// stops them. Safe for concurrent use.
type Verifier struct {
	cfg    VerifyConfig
	router *transport.Router
	agent  *transport.Agent
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	cache  map[string]verifyEntry
	probes map[string]*verifyProbe
	store  *verifyStore // CachePath; nil: none
}

type verifyEntry struct {
	v  policy.Verification
	at time.Time
}

type verifyProbe struct {
	done chan struct{}
	v    policy.Verification
}

// NewVerifier returns a Verifier that routes with router and probes with
// agent, reading CachePath's answers when set. log nil discards.
func NewVerifier(cfg VerifyConfig, router *transport.Router, agent *transport.Agent, log *slog.Logger) (*Verifier, error) {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{cfg: cfg, router: router, agent: agent, log: log,
		cache: make(map[string]verifyEntry), probes: make(map[string]*verifyProbe)}
	if cfg.CachePath != "" {
		expire := func(s policy.VerifyStatus) time.Duration { e, _ := v.lifetimes(s); return e }
		store, entries, err := openVerifyStore(cfg.CachePath, cfg.Now(), expire, cfg.MaxEntries)
		if err != nil {
			return nil, err
		}
		v.store, v.cache = store, entries
	}
	v.ctx, v.cancel = context.WithCancel(context.Background())
	return v, nil
}

// Close stops the probes under way, waits for them, and closes the cache
// file.
func (v *Verifier) Close() {
	v.cancel()
	v.wg.Wait()
	if v.store != nil {
		v.store.close()
	}
}

// Verify implements policy.Verifier: the cached answer while it is
// fresh (a stale one is returned and refreshed in the background), else
// the answer of a new probe if it comes within Wait, else
// policy.VerifyUnknown.
func (v *Verifier) Verify(ctx context.Context, address string) (policy.Verification, error) {
	key := strings.ToLower(address)
	now := v.cfg.Now()
	v.mu.Lock()
	if e, ok := v.cache[key]; ok {
		expire, refresh := v.lifetimes(e.v.Status)
		if age := now.Sub(e.at); age < expire {
			if age >= refresh {
				v.startLocked(key, address)
			}
			v.mu.Unlock()
			return e.v, nil
		}
		delete(v.cache, key)
	}
	p := v.startLocked(key, address)
	v.mu.Unlock()
	if p == nil || v.cfg.Wait <= 0 {
		return policy.Verification{Status: policy.VerifyUnknown}, nil
	}
	t := time.NewTimer(v.cfg.Wait)
	defer t.Stop()
	select {
	case <-p.done:
		return p.v, nil
	case <-t.C:
	case <-ctx.Done():
	}
	return policy.Verification{Status: policy.VerifyUnknown}, nil
}

func (v *Verifier) lifetimes(s policy.VerifyStatus) (expire, refresh time.Duration) {
	if s == policy.VerifyDeliverable {
		return v.cfg.PositiveExpire, v.cfg.PositiveRefresh
	}
	return v.cfg.NegativeExpire, v.cfg.NegativeRefresh
}

// startLocked returns the probe of key under way, or starts one; nil
// when PendingLimit probes are under way. v.mu is held.
func (v *Verifier) startLocked(key, address string) *verifyProbe {
	if p := v.probes[key]; p != nil {
		return p
	}
	if len(v.probes) >= v.cfg.PendingLimit || v.ctx.Err() != nil {
		return nil
	}
	p := &verifyProbe{done: make(chan struct{})}
	v.probes[key] = p
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		ctx, cancel := context.WithTimeout(v.ctx, v.cfg.ProbeTimeout)
		res := v.probe(ctx, address)
		cancel()
		v.record(key, res)
		p.v = res
		close(p.done)
	}()
	return p
}

// record caches a probe's answer, within MaxEntries, and appends it to
// the cache file outside the lock lookups take.
func (v *Verifier) record(key string, res policy.Verification) {
	v.mu.Lock()
	delete(v.probes, key)
	if res.Status == policy.VerifyUnknown || res.Status == policy.VerifyUndeliverable && v.cfg.NoNegativeCache {
		v.mu.Unlock()
		return
	}
	if len(v.cache) >= v.cfg.MaxEntries {
		v.evictLocked()
	}
	e := verifyEntry{v: res, at: v.cfg.Now()}
	v.cache[key] = e
	v.mu.Unlock()
	if v.store != nil {
		if err := v.store.append(key, e); err != nil {
			v.log.Warn("address verification: cannot write the cache file", "err", err)
		}
	}
}

// evictLocked drops the oldest tenth of the cache.
func (v *Verifier) evictLocked() {
	n := len(v.cache)/10 + 1
	ages := make([]time.Time, 0, len(v.cache))
	for _, e := range v.cache {
		ages = append(ages, e.at)
	}
	slices.SortFunc(ages, time.Time.Compare)
	cut := ages[min(n, len(ages))-1]
	for k, e := range v.cache {
		if !e.at.After(cut) {
			delete(v.cache, k)
		}
	}
}

// probe asks the next hop about address: Postfix's verify probe, MAIL
// FROM and RCPT TO on the route the mail would take, without DATA.
func (v *Verifier) probe(ctx context.Context, address string) policy.Verification {
	if v.cfg.Expand == nil {
		return v.probeOne(ctx, address)
	}
	addrs, err := v.cfg.Expand(ctx, address)
	if err != nil {
		v.log.Warn("address verification: rewriting failed", "address", address, "err", err)
		return policy.Verification{Status: policy.VerifyDeferred, Reason: "address rewriting failure"}
	}
	if len(addrs) == 0 {
		addrs = []string{address}
	}
	var worst policy.Verification
	for i, a := range addrs {
		res := v.probeOne(ctx, a)
		if i == 0 || verifyRank(res.Status) > verifyRank(worst.Status) {
			worst = res
		}
	}
	return worst
}

// verifyRank orders answers for an address that expands to several:
// one undeliverable expansion makes the address undeliverable, one
// deferred makes it deferred.
func verifyRank(s policy.VerifyStatus) int {
	switch s {
	case policy.VerifyUndeliverable:
		return 2
	case policy.VerifyDeliverable:
		return 0
	}
	return 1
}

// probeOne probes one address on its route.
func (v *Verifier) probeOne(ctx context.Context, address string) policy.Verification {
	rt, err := v.router.Route(ctx, address)
	if err != nil {
		v.log.Warn("address verification: routing failed", "address", address, "err", err)
		return policy.Verification{Status: policy.VerifyDeferred, Reason: "address resolver failure"}
	}
	m := &client.Message{From: v.cfg.Sender, Recipients: []client.Recipient{{Address: address}}, Probe: true}
	r := v.agent.Deliver(ctx, rt, m).Recipients[0]
	v.log.Info("address verification", "to", address, "relay", relayString(r), "dsn", r.Enhanced(),
		"status", map[bool]string{true: "deliverable", false: "undeliverable"}[r.Status == client.Delivered], "reason", r.Text())
	switch r.Status {
	case client.Delivered:
		return policy.Verification{Status: policy.VerifyDeliverable, Reason: r.Text()}
	case client.Failed:
		return policy.Verification{Status: policy.VerifyUndeliverable, Reason: r.Text()}
	}
	return policy.Verification{Status: policy.VerifyDeferred, Reason: r.Text()}
}
