package policy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/mxrelay/mxrelay/lookup"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ServiceError is a policy server failure: it could not be reached, did
// not answer in time, closed the connection or sent something that is not
// a policy reply. policy then applies smtpd_policy_service_default_action.
type ServiceError struct {
	Service string // the check_policy_service argument: "inet:127.0.0.1:10031"
	Err     error  // the network or protocol failure
}

// Error names the service and the failure.
func (e *ServiceError) Error() string { return "policy service " + e.Service + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *ServiceError) Unwrap() error { return e.Err }

// Temporary reports true: a policy server failure is never permanent.
func (e *ServiceError) Temporary() bool { return true }

// maxIdleConns caps the idle connections kept per policy server.
const maxIdleConns = 8

// policyClient is one check_policy_service server: the Postfix policy
// delegation protocol (SMTPD_POLICY_README) over a small pool of reused
// connections.
type policyClient struct {
	spec          string
	network, addr string
	timeout       time.Duration
	maxIdle       time.Duration
	maxTTL        time.Duration
	tryLimit      int
	retryDelay    time.Duration
	requestLimit  int
	defaultAction string
	context       string
	maxReply      int
	dial          func(ctx context.Context, network, address string) (net.Conn, error)
	now           func() time.Time

	mu     sync.Mutex
	idle   []*policyConn
	closed bool
}

type policyConn struct {
	c        net.Conn
	r        *bufio.Reader
	opened   time.Time
	lastUsed time.Time
	requests int
}

// newPolicyClient parses "inet:host:port", "unix:/path", "unix:private/name" (relative to
// Config.SocketDirectory), "host:port" or
// "{ service, name=value, ... }" (the Postfix 3.x per-service options
// timeout, max_idle, max_ttl, try_limit, retry_delay, default_action,
// policy_context, request_limit).
func (p *Policy) newPolicyClient(arg string) (*policyClient, error) {
	c := &p.cfg
	pc := &policyClient{
		timeout:       orDur(c.SMTPDPolicyServiceTimeout, 100*time.Second),
		maxIdle:       orDur(c.SMTPDPolicyServiceMaxIdle, 300*time.Second),
		maxTTL:        orDur(c.SMTPDPolicyServiceMaxTTL, 1000*time.Second),
		tryLimit:      orInt(c.SMTPDPolicyServiceTryLimit, 2),
		retryDelay:    orDur(c.SMTPDPolicyServiceRetryDelay, time.Second),
		requestLimit:  c.SMTPDPolicyServiceRequestLimit,
		defaultAction: c.SMTPDPolicyServiceDefaultAction,
		context:       c.SMTPDPolicyServicePolicyContext,
		maxReply:      orInt(c.SMTPDPolicyServiceMaxReplySize, 64<<10),
		dial:          c.Dial,
		now:           c.Now,
	}
	if pc.defaultAction == "" {
		pc.defaultAction = "451 4.3.5 Server configuration problem"
	}
	if pc.dial == nil {
		var d net.Dialer
		pc.dial = d.DialContext
	}
	if pc.now == nil {
		pc.now = time.Now
	}
	parts := lookup.SplitList(arg)
	if len(parts) == 0 {
		return nil, errors.New("check_policy_service needs a service")
	}
	pc.spec = parts[0]
	for _, opt := range parts[1:] {
		name, value, ok := strings.Cut(opt, "=")
		if !ok {
			return nil, fmt.Errorf("check_policy_service %s: option %q is not name=value", pc.spec, opt)
		}
		var err error
		switch name {
		case "timeout":
			pc.timeout, err = lookup.ParseTime(value, 's')
		case "max_idle":
			pc.maxIdle, err = lookup.ParseTime(value, 's')
		case "max_ttl":
			pc.maxTTL, err = lookup.ParseTime(value, 's')
		case "retry_delay":
			pc.retryDelay, err = lookup.ParseTime(value, 's')
		case "try_limit":
			pc.tryLimit, err = strconv.Atoi(value)
		case "request_limit":
			pc.requestLimit, err = strconv.Atoi(value)
		case "default_action":
			pc.defaultAction = value
		case "policy_context":
			pc.context = value
		default:
			return nil, fmt.Errorf("check_policy_service %s: unknown option %q", pc.spec, name)
		}
		if err != nil {
			return nil, fmt.Errorf("check_policy_service %s: option %s: %v", pc.spec, name, err)
		}
	}
	if pc.tryLimit < 1 || pc.retryDelay <= 0 || pc.timeout <= 0 {
		return nil, fmt.Errorf("check_policy_service %s: try_limit, retry_delay and timeout must be positive", pc.spec)
	}
	switch {
	case strings.HasPrefix(pc.spec, "inet:"):
		pc.network, pc.addr = "tcp", pc.spec[5:]
	case strings.HasPrefix(pc.spec, "unix:"):
		pc.network, pc.addr = "unix", pc.spec[5:]
	case strings.HasPrefix(pc.spec, "/"):
		pc.network, pc.addr = "unix", pc.spec
	case strings.Contains(pc.spec, ":"):
		pc.network, pc.addr = "tcp", pc.spec
	default:
		return nil, fmt.Errorf("check_policy_service %s: use inet:host:port or unix:/path", pc.spec)
	}
	if pc.network == "unix" && !filepath.IsAbs(pc.addr) && c.SocketDirectory != "" {
		pc.addr = filepath.Join(c.SocketDirectory, pc.addr)
	}
	if pc.network == "tcp" {
		if _, _, err := net.SplitHostPort(pc.addr); err != nil {
			return nil, fmt.Errorf("check_policy_service %s: %v", pc.spec, err)
		}
	}
	return pc, nil
}

func (pc *policyClient) close() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.closed = true
	for _, c := range pc.idle {
		c.c.Close()
	}
	pc.idle = nil
}

// get returns an idle connection that is still fresh, or dials one.
func (pc *policyClient) get(ctx context.Context) (*policyConn, error) {
	now := pc.now()
	pc.mu.Lock()
	if pc.closed {
		pc.mu.Unlock()
		return nil, errors.New("policy closed")
	}
	for len(pc.idle) > 0 {
		c := pc.idle[len(pc.idle)-1]
		pc.idle = pc.idle[:len(pc.idle)-1]
		if now.Sub(c.lastUsed) < pc.maxIdle && now.Sub(c.opened) < pc.maxTTL {
			pc.mu.Unlock()
			return c, nil
		}
		c.c.Close()
	}
	pc.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, pc.timeout)
	defer cancel()
	conn, err := pc.dial(dctx, pc.network, pc.addr)
	if err != nil {
		return nil, err
	}
	return &policyConn{c: conn, r: bufio.NewReaderSize(conn, 4096), opened: now}, nil
}

// put keeps a connection for reuse, unless it is worn out.
func (pc *policyClient) put(c *policyConn) {
	c.lastUsed = pc.now()
	c.requests++
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closed || len(pc.idle) >= maxIdleConns || pc.requestLimit > 0 && c.requests >= pc.requestLimit ||
		c.lastUsed.Sub(c.opened) >= pc.maxTTL {
		c.c.Close()
		return
	}
	pc.idle = append(pc.idle, c)
}

// query sends one request and returns the action. After try_limit failed
// attempts, retry_delay apart, it returns the default action and the last
// error.
func (pc *policyClient) query(ctx context.Context, request []byte) (string, error) {
	var last error
	staleRetried := false
	for try := 0; try < pc.tryLimit; try++ {
		if try > 0 && last != errStale {
			t := time.NewTimer(pc.retryDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return pc.defaultAction, &ServiceError{pc.spec, ctx.Err()}
			case <-t.C:
			}
		}
		action, reused, err := pc.once(ctx, request)
		if err == nil {
			return action, nil
		}
		last = err
		if reused && !staleRetried && ctx.Err() == nil && errors.Is(err, errNoReply) {
			// An idle connection the server has closed meanwhile does
			// not count as an attempt: try again at once, freshly.
			staleRetried, last = true, errStale
			try--
			continue
		}
		if ctx.Err() != nil {
			break
		}
	}
	return pc.defaultAction, &ServiceError{pc.spec, last}
}

// errNoReply is a connection that ended before any reply: on a reused
// idle connection, the server closed it meanwhile. errStale marks that
// case in query.
var (
	errNoReply = errors.New("connection closed without a reply")
	errStale   = errors.New("idle connection closed by the server")
)

func (pc *policyClient) once(ctx context.Context, request []byte) (action string, reused bool, err error) {
	c, err := pc.get(ctx)
	if err != nil {
		return "", false, err
	}
	reused = c.requests > 0
	// Socket deadlines are wall-clock times; Config.Now measures only
	// connection lifetimes (a test's fake clock must not expire them).
	deadline := time.Now().Add(pc.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	action, err = pc.exchange(c, request)
	if !stop() || err != nil {
		c.c.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return "", reused, err
	}
	c.c.SetDeadline(time.Time{})
	pc.put(c)
	return action, reused, nil
}

// exchange writes a request and reads the reply: name=value lines ending
// with an empty line, holding action=.
func (pc *policyClient) exchange(c *policyConn, request []byte) (string, error) {
	if _, err := c.c.Write(request); err != nil {
		return "", fmt.Errorf("%w: %v", errNoReply, err)
	}
	return readReply(c.r, pc.maxReply)
}

// readReply reads a policy server reply: name=value lines ending with an
// empty line, at most max bytes, holding action=. Other attributes are
// ignored.
func readReply(r *bufio.Reader, max int) (string, error) {
	action, have, total := "", false, 0
	var long []byte
	for {
		line, err := r.ReadSlice('\n')
		total += len(line)
		if total > max {
			return "", fmt.Errorf("reply longer than %d bytes", max)
		}
		if err == bufio.ErrBufferFull {
			long = append(long, line...) // a line longer than the buffer
			continue
		}
		if long != nil {
			line, long = append(long, line...), nil
		}
		if err != nil {
			// A server that closed an idle connection shows as EOF, or
			// as a reset once our request reached its closed socket.
			if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				if total == 0 {
					return "", fmt.Errorf("%w: %v", errNoReply, err)
				}
				return "", errors.New("connection closed in the middle of a reply")
			}
			return "", err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte("="))
		if !ok {
			return "", fmt.Errorf("malformed reply line %.100q", line)
		}
		if string(name) == "action" {
			action, have = string(value), true
		}
	}
	if !have {
		return "", errors.New("reply without action")
	}
	// An empty action is DUNNO for Postfix (golden case pol-empty).
	return strings.TrimSpace(action), nil
}

// policyRequest builds the request in the attribute order Postfix 3.7's
// smtpd_check.c sends (golden configurations policy, policy2, policy3).
func (s *state) policyRequest(pc *policyClient) []byte {
	r := s.req
	b := make([]byte, 0, 768)
	add := func(name, value string) {
		b = append(b, name...)
		b = append(b, '=')
		for i := 0; i < len(value); i++ {
			if c := value[i]; c == '\n' || c == '\r' || c == 0 {
				b = append(b, '?')
			} else {
				b = append(b, c)
			}
		}
		b = append(b, '\n')
	}
	unknown := func(v string) string {
		if v == "" {
			return "unknown"
		}
		return v
	}
	addr := func(a netip.Addr) string {
		if !a.IsValid() {
			return ""
		}
		return a.Unmap().String()
	}
	num := func(n int64) string { return strconv.FormatInt(n, 10) }
	proto := r.Protocol
	if proto == "" {
		proto = "ESMTP"
	}
	add("request", "smtpd_access_policy")
	add("protocol_state", r.Stage.String())
	add("protocol_name", proto)
	add("client_address", addr(r.ClientAddr))
	add("client_name", unknown(r.ClientName))
	add("client_port", num(int64(r.ClientPort)))
	add("reverse_client_name", unknown(r.ReverseClientName))
	add("server_address", addr(r.ServerAddr))
	add("server_port", num(int64(r.ServerPort)))
	add("helo_name", r.Helo)
	sender, _ := s.from()
	add("sender", sender.String())
	rcpt := ""
	if s.hasRcpt {
		rcpt = s.rcpt.String()
	}
	add("recipient", rcpt)
	count := 0
	if r.Stage == StageData {
		count = r.RecipientCount
	}
	add("recipient_count", num(int64(count)))
	add("queue_id", r.QueueID)
	add("instance", r.Instance)
	add("size", num(r.Size))
	add("etrn_domain", "")
	add("stress", "")
	add("sasl_method", r.SASLMethod)
	add("sasl_username", r.SASLUsername)
	add("sasl_sender", r.SASLSender)
	t := r.TLS
	if t == nil {
		t = &TLS{}
	}
	add("ccert_subject", t.PeerSubject)
	add("ccert_issuer", t.PeerIssuer)
	add("ccert_fingerprint", t.PeerFingerprint)
	add("ccert_pubkey_fingerprint", t.PeerPubkeyFingerprint)
	add("encryption_protocol", t.Protocol)
	add("encryption_cipher", t.Cipher)
	add("encryption_keysize", num(int64(t.KeySize)))
	add("policy_context", pc.context)
	return append(b, '\n')
}

// policyService is check_policy_service: the server's action is evaluated
// as an access table result; a failure applies the default action.
func (s *state) policyService(ctx context.Context, st *step, subj subject, why Reason) status {
	action, err := st.svc.query(ctx, s.policyRequest(st.svc))
	if action == "" {
		return dunno
	}
	if err != nil {
		s.d.Err = err
		s.p.log.Warn("policy service failed, using default action", "service", st.svc.spec, "err", err, "action", action)
	}
	why.Table, why.Value = st.svc.spec, action
	return s.tableResult(ctx, action, why, subj)
}
