package dnstest

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Fault is a deliberate misbehaviour for one name and query type.
type Fault int

const (
	// NoFault answers normally.
	NoFault Fault = iota
	// ServFail answers with RCODE SERVFAIL (a temporary failure).
	ServFail
	// Timeout sends no answer at all, so the client times out.
	Timeout
	// Truncate answers over UDP with the TC bit set and no records, so a
	// correct client retries over TCP, where the full answer is given.
	Truncate
	// Refused answers with RCODE REFUSED.
	Refused
	// FormErr answers with RCODE FORMERR.
	FormErr
)

// String names the fault.
func (f Fault) String() string {
	switch f {
	case NoFault:
		return "none"
	case ServFail:
		return "SERVFAIL"
	case Timeout:
		return "timeout"
	case Truncate:
		return "truncate"
	case Refused:
		return "REFUSED"
	case FormErr:
		return "FORMERR"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// AnyType may be given to SetFault as qtype to affect every query type.
const AnyType = dns.TypeANY

// Query is one question the server received, for assertions.
type Query struct {
	Name  string // lower case, fully qualified ("example.org.")
	Type  uint16 // dns.TypeMX, ...
	Proto string // "udp" or "tcp"
}

// maxCNAMEChain bounds CNAME following inside the server.
const maxCNAMEChain = 8

type faultKey struct {
	name  string
	qtype uint16
}

// Server is an in-process DNS server. It is safe for concurrent use; records
// and faults may be changed while it runs.
type Server struct {
	addr string
	udp  *dns.Server
	tcp  *dns.Server
	wg   sync.WaitGroup // the two serving goroutines

	mu      sync.Mutex
	records map[string][]dns.RR // owner name (lower case, FQDN) -> records
	faults  map[faultKey]Fault
	queries []Query
	closed  bool
}

// Start starts a server listening on 127.0.0.1 with an ephemeral port, the
// same port for UDP and TCP. Close stops it.
func Start() (*Server, error) {
	s := &Server{records: map[string][]dns.RR{}, faults: map[faultKey]Fault{}}
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("dnstest: listen udp: %w", err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			lastErr = err
			continue // the TCP port is taken; try another one
		}
		s.addr = pc.LocalAddr().String()
		s.udp = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve("udp"))}
		s.tcp = &dns.Server{Listener: l, Handler: dns.HandlerFunc(s.serve("tcp")),
			ReadTimeout: 5 * time.Second, IdleTimeout: func() time.Duration { return 5 * time.Second }}
		started := make(chan struct{}, 2)
		s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
		s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
		s.wg.Go(func() { _ = s.udp.ActivateAndServe() })
		s.wg.Go(func() { _ = s.tcp.ActivateAndServe() })
		<-started
		<-started
		return s, nil
	}
	return nil, fmt.Errorf("dnstest: no port free for both udp and tcp: %w", lastErr)
}

// Addr returns the server's address, "127.0.0.1:port", for UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Close stops the server and waits for its goroutines to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := errors.Join(s.udp.Shutdown(), s.tcp.Shutdown())
	s.wg.Wait()
	return err
}

// Add adds records given in zone-file presentation format, one per string,
// with fully qualified owner names: "example.org. 300 IN MX 10 mx.example.org.".
func (s *Server) Add(records ...string) error {
	rrs := make([]dns.RR, 0, len(records))
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			return fmt.Errorf("dnstest: %w", err)
		}
		if rr == nil {
			continue
		}
		rrs = append(rrs, rr)
	}
	s.AddRR(rrs...)
	return nil
}

// AddZone adds every record of a zone file given as text. $ORIGIN and $TTL
// are honoured; relative names without $ORIGIN are relative to the root.
func (s *Server) AddZone(text string) error {
	zp := dns.NewZoneParser(strings.NewReader(text), ".", "")
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("dnstest: %w", err)
	}
	s.AddRR(rrs...)
	return nil
}

// AddRR adds records given as Go values.
func (s *Server) AddRR(rrs ...dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range rrs {
		name := strings.ToLower(dns.Fqdn(rr.Header().Name))
		s.records[name] = append(s.records[name], dns.Copy(rr))
	}
}

// Remove deletes every record owned by name.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, canon(name))
}

// SetFault makes queries for name and qtype misbehave; qtype AnyType affects
// every type. NoFault removes the fault.
func (s *Server) SetFault(name string, qtype uint16, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := faultKey{canon(name), qtype}
	if f == NoFault {
		delete(s.faults, k)
		return
	}
	s.faults[k] = f
}

// Queries returns the questions received so far, in order.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

// Count returns how many queries for name and qtype arrived over proto
// ("udp", "tcp", or "" for both).
func (s *Server) Count(name string, qtype uint16, proto string) int {
	name = canon(name)
	n := 0
	for _, q := range s.Queries() {
		if q.Name == name && q.Type == qtype && (proto == "" || q.Proto == proto) {
			n++
		}
	}
	return n
}

func canon(name string) string { return strings.ToLower(dns.Fqdn(name)) }

func (s *Server) serve(proto string) func(dns.ResponseWriter, *dns.Msg) {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		if len(req.Question) != 1 {
			m := new(dns.Msg)
			m.SetRcode(req, dns.RcodeFormatError)
			_ = w.WriteMsg(m)
			return
		}
		q := req.Question[0]
		name := canon(q.Name)
		s.mu.Lock()
		s.queries = append(s.queries, Query{Name: name, Type: q.Qtype, Proto: proto})
		f, ok := s.faults[faultKey{name, q.Qtype}]
		if !ok {
			f = s.faults[faultKey{name, AnyType}]
		}
		m := s.answer(req, name, q.Qtype)
		s.mu.Unlock()

		switch f {
		case Timeout:
			return
		case ServFail:
			m = new(dns.Msg)
			m.SetRcode(req, dns.RcodeServerFailure)
		case Refused:
			m = new(dns.Msg)
			m.SetRcode(req, dns.RcodeRefused)
		case FormErr:
			m = new(dns.Msg)
			m.SetRcode(req, dns.RcodeFormatError)
		case Truncate:
			if proto == "udp" {
				m.Answer, m.Ns, m.Extra = nil, nil, nil
				m.Truncated = true
			}
		}
		if proto == "udp" {
			// Like a real server: an answer larger than the client's
			// buffer (EDNS0 size, else 512 bytes) is cut and marked TC.
			size := dns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				size = int(opt.UDPSize())
			}
			m.Truncate(size)
		}
		_ = w.WriteMsg(m)
	}
}

// answer builds the reply; s.mu is held.
func (s *Server) answer(req *dns.Msg, name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	cur := name
	for range maxCNAMEChain {
		rrs, exists := s.records[cur]
		var cname *dns.CNAME
		found := false
		for _, rr := range rrs {
			if rr.Header().Rrtype == qtype {
				m.Answer = append(m.Answer, dns.Copy(rr))
				found = true
			} else if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		switch {
		case found:
			return m
		case cname != nil && qtype != dns.TypeCNAME:
			m.Answer = append(m.Answer, dns.Copy(cname))
			cur = canon(cname.Target)
			continue
		case !exists && cur == name:
			m.Rcode = dns.RcodeNameError
		case !exists:
			// A dangling CNAME: NXDOMAIN for the target, as recursive
			// resolvers report it.
			m.Rcode = dns.RcodeNameError
		}
		if soa := s.soaFor(cur); soa != nil {
			m.Ns = append(m.Ns, soa)
		}
		return m
	}
	return m
}

// soaFor returns the SOA of the closest enclosing zone, if any was given.
func (s *Server) soaFor(name string) dns.RR {
	for n := name; ; {
		for _, rr := range s.records[n] {
			if rr.Header().Rrtype == dns.TypeSOA {
				return dns.Copy(rr)
			}
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return nil
		}
		n = n[i+1:]
	}
}
