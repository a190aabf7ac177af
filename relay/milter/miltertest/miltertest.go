// Package miltertest is a milter for tests: it speaks the Sendmail milter
// protocol on a loopback port and answers each event as a test says,
// recording what it was sent.
//
//	srv, _ := miltertest.Start(miltertest.Milter{On: func(e miltertest.Event) []miltertest.Packet {
//		if e.Cmd == miltertest.EndOfMessage {
//			return []miltertest.Packet{miltertest.AddHeader("X-Seen", "yes"), miltertest.Accept()}
//		}
//		return nil // continue
//	}})
//	defer srv.Close()
//	// smtpd_milters = inet:  + srv.Addr
package miltertest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
)

// Events (the MTA's commands).
const (
	Abort        = 'A'
	Body         = 'B'
	Connect      = 'C'
	Macro        = 'D'
	EndOfMessage = 'E'
	Helo         = 'H'
	Header       = 'L'
	Mail         = 'M'
	EndOfHeader  = 'N'
	OptNeg       = 'O'
	Quit         = 'Q'
	Rcpt         = 'R'
	Data         = 'T'
	Unknown      = 'U'
)

// Packet is one reply or request of the milter.
type Packet struct {
	Code byte
	Data []byte
}

// Event is one command of the MTA, with the macros sent before it.
type Event struct {
	Cmd    byte
	Data   []byte
	Macros map[string]string
}

// Strings splits the event's data into its NUL-terminated strings.
func (e Event) Strings() []string {
	s := strings.Split(string(e.Data), "\x00")
	if len(s) > 0 && s[len(s)-1] == "" {
		s = s[:len(s)-1]
	}
	return s
}

// Milter is how the test milter behaves.
type Milter struct {
	// Version, Actions and Protocol are its negotiation reply (zero: 6,
	// or the MTA's version if lower, as libmilter; all the MTA offered;
	// none).
	Version, Actions, Protocol uint32
	// SymList asks for macros by stage (SMFIR_SETSYMLIST at negotiation).
	SymList map[uint32]string
	// On answers an event (not OptNeg, Macro, Abort, Quit). Nil or an
	// empty answer is SMFIR_CONTINUE, and so is the end of an answer
	// that ends with a modification request. Raw bytes in a Packet with Code 0
	// are written as they are (garbage).
	On func(Event) []Packet
	// NoNegotiate makes it close the connection instead of negotiating.
	NoNegotiate bool
}

// Server is a running test milter.
type Server struct {
	// Addr is its host:port on 127.0.0.1.
	Addr string
	ln   net.Listener
	m    Milter
	mu   sync.Mutex
	ev   []Event
	conn map[net.Conn]bool
	wg   sync.WaitGroup
}

// Start listens on 127.0.0.1:0 and serves m until Close.
func Start(m Milter) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return Serve(ln, m), nil
}

// Serve serves m on ln until Close: a unix socket, for an MTA in another
// network namespace (the Postfix of relay/milter/testdata/lab).
func Serve(ln net.Listener, m Milter) *Server {
	s := &Server{Addr: ln.Addr().String(), ln: ln, m: m, conn: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.accept()
	return s
}

// Events returns the events received so far, in order, over all
// connections.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.ev...)
}

// Close stops the server and closes its connections.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conn {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conn[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conn, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

func (s *Server) serve(c net.Conn) {
	r := bufio.NewReader(c)
	var macros map[string]string
	var proto uint32
	for {
		code, data, err := read(r)
		if err != nil {
			return
		}
		switch code {
		case OptNeg:
			if s.m.NoNegotiate || len(data) < 12 {
				return
			}
			v, acts := s.m.Version, s.m.Actions
			if v == 0 {
				v = 6
			}
			v = min(v, binary.BigEndian.Uint32(data)) // as libmilter: the lower version
			if acts == 0 {
				acts = binary.BigEndian.Uint32(data[4:])
			}
			proto = s.m.Protocol
			var b []byte
			b = binary.BigEndian.AppendUint32(b, v)
			b = binary.BigEndian.AppendUint32(b, acts)
			b = binary.BigEndian.AppendUint32(b, proto)
			for st := uint32(0); st < 8; st++ {
				if l, ok := s.m.SymList[st]; ok {
					b = binary.BigEndian.AppendUint32(b, st)
					b = append(append(b, l...), 0)
				}
			}
			if write(c, Packet{Code: OptNeg, Data: b}) != nil {
				return
			}
			continue
		case Macro:
			macros = map[string]string{}
			if len(data) > 0 {
				kv := strings.Split(string(data[1:]), "\x00")
				for i := 0; i+1 < len(kv); i += 2 {
					macros[kv[i]] = kv[i+1]
				}
			}
			continue
		}
		e := Event{Cmd: code, Data: data, Macros: macros}
		macros = nil
		s.mu.Lock()
		s.ev = append(s.ev, e)
		s.mu.Unlock()
		switch code {
		case Abort:
			continue
		case Quit:
			return
		}
		var out []Packet
		if s.m.On != nil {
			out = s.m.On(e)
		}
		if noReply(code, proto) {
			continue
		}
		if len(out) == 0 || strings.IndexByte("hmib+-2eqp", out[len(out)-1].Code) >= 0 {
			// Modifications are followed by a decision: continue.
			out = append(out, Continue())
		}
		for _, p := range out {
			if err := write(c, p); err != nil {
				return
			}
		}
	}
}

// noReply reports whether the milter said at negotiation that it does
// not reply to the event.
func noReply(code byte, proto uint32) bool {
	var f uint32
	switch code {
	case Connect:
		f = 1 << 12
	case Helo:
		f = 1 << 13
	case Mail:
		f = 1 << 14
	case Rcpt:
		f = 1 << 15
	case Data:
		f = 1 << 16
	case Header:
		f = 1 << 7
	case EndOfHeader:
		f = 1 << 18
	case Body:
		f = 1 << 19
	}
	return proto&f != 0
}

func read(r *bufio.Reader) (byte, []byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n < 1 || n > 1<<24 {
		return 0, nil, errors.New("bad length")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return b[0], b[1:], nil
}

func write(w io.Writer, p Packet) error {
	if p.Code == 0 {
		_, err := w.Write(p.Data)
		return err
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(len(p.Data)+1))
	b = append(append(b, p.Code), p.Data...)
	_, err := w.Write(b)
	return err
}

func cstr(s ...string) []byte {
	var b []byte
	for _, x := range s {
		b = append(append(b, x...), 0)
	}
	return b
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// Continue is SMFIR_CONTINUE.
func Continue() Packet { return Packet{Code: 'c'} }

// Accept is SMFIR_ACCEPT.
func Accept() Packet { return Packet{Code: 'a'} }

// Reject is SMFIR_REJECT.
func Reject() Packet { return Packet{Code: 'r'} }

// Tempfail is SMFIR_TEMPFAIL.
func Tempfail() Packet { return Packet{Code: 't'} }

// Discard is SMFIR_DISCARD.
func Discard() Packet { return Packet{Code: 'd'} }

// ReplyCode is SMFIR_REPLYCODE with an SMTP reply ("550 5.7.0 go away").
func ReplyCode(text string) Packet { return Packet{Code: 'y', Data: cstr(text)} }

// Quarantine is SMFIR_QUARANTINE.
func Quarantine(reason string) Packet { return Packet{Code: 'q', Data: cstr(reason)} }

// Progress is SMFIR_PROGRESS.
func Progress() Packet { return Packet{Code: 'p'} }

// AddHeader is SMFIR_ADDHEADER.
func AddHeader(name, value string) Packet { return Packet{Code: 'h', Data: cstr(name, value)} }

// ChangeHeader is SMFIR_CHGHEADER (an empty value deletes).
func ChangeHeader(index uint32, name, value string) Packet {
	return Packet{Code: 'm', Data: append(u32(index), cstr(name, value)...)}
}

// InsertHeader is SMFIR_INSHEADER.
func InsertHeader(index uint32, name, value string) Packet {
	return Packet{Code: 'i', Data: append(u32(index), cstr(name, value)...)}
}

// ReplaceBody is SMFIR_REPLBODY (one chunk).
func ReplaceBody(chunk string) Packet { return Packet{Code: 'b', Data: []byte(chunk)} }

// AddRcpt is SMFIR_ADDRCPT.
func AddRcpt(addr string) Packet { return Packet{Code: '+', Data: cstr(addr)} }

// AddRcptPar is SMFIR_ADDRCPT_PAR.
func AddRcptPar(addr, args string) Packet { return Packet{Code: '2', Data: cstr(addr, args)} }

// DelRcpt is SMFIR_DELRCPT.
func DelRcpt(addr string) Packet { return Packet{Code: '-', Data: cstr(addr)} }

// ChangeFrom is SMFIR_CHGFROM.
func ChangeFrom(addr, args string) Packet { return Packet{Code: 'e', Data: cstr(addr, args)} }

// Garbage is bytes written as they are, breaking the protocol.
func Garbage(b string) Packet { return Packet{Data: []byte(b)} }

// Step is one answer of a Script, as data: Op is addheader, chgheader,
// insheader, replbody, addrcpt, addrcpt_par, delrcpt, chgfrom,
// quarantine, replycode, reject, tempfail, discard, accept or continue,
// with the fields its packet takes.
type Step struct {
	Op    string `json:"op"`
	Index uint32 `json:"index,omitempty"`
	Name  string `json:"name,omitempty"`
	Value string `json:"value,omitempty"`
	Args  string `json:"args,omitempty"`
}

// Script is a milter's answers by event (connect, helo, mail, rcpt,
// data, header, eoh, body, eom), the same for every message: one file
// can drive this package's milter in a test and in front of a real
// Postfix.
type Script map[string][]Step

var eventNames = map[byte]string{Connect: "connect", Helo: "helo", Mail: "mail", Rcpt: "rcpt", Data: "data",
	Header: "header", EndOfHeader: "eoh", Body: "body", EndOfMessage: "eom", Unknown: "unknown"}

// On is a Milter.On that answers as the script says.
func (sc Script) On(e Event) []Packet {
	var out []Packet
	for _, st := range sc[eventNames[e.Cmd]] {
		p, err := st.Packet()
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	return out
}

// Packet is the step's packet.
func (st Step) Packet() (Packet, error) {
	switch st.Op {
	case "addheader":
		return AddHeader(st.Name, st.Value), nil
	case "chgheader":
		return ChangeHeader(st.Index, st.Name, st.Value), nil
	case "insheader":
		return InsertHeader(st.Index, st.Name, st.Value), nil
	case "replbody":
		return ReplaceBody(st.Value), nil
	case "addrcpt":
		return AddRcpt(st.Value), nil
	case "addrcpt_par":
		return AddRcptPar(st.Value, st.Args), nil
	case "delrcpt":
		return DelRcpt(st.Value), nil
	case "chgfrom":
		return ChangeFrom(st.Value, st.Args), nil
	case "quarantine":
		return Quarantine(st.Value), nil
	case "replycode":
		return ReplyCode(st.Value), nil
	case "reject":
		return Reject(), nil
	case "tempfail":
		return Tempfail(), nil
	case "discard":
		return Discard(), nil
	case "accept":
		return Accept(), nil
	case "continue":
		return Continue(), nil
	}
	return Packet{}, fmt.Errorf("miltertest: unknown step %q", st.Op)
}
