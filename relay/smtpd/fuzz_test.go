package smtpd

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// formatMail writes MAIL FROM arguments back from what parseMail read.
func formatMail(from string, p MailParams) string {
	args := []string{"FROM:<" + from + ">"}
	if p.Size >= 0 {
		args = append(args, "SIZE="+strconv.FormatInt(p.Size, 10))
	}
	if p.Body != "" {
		args = append(args, "BODY="+p.Body)
	}
	if p.SMTPUTF8 {
		args = append(args, "SMTPUTF8")
	}
	if p.Ret != "" {
		args = append(args, "RET="+p.Ret)
	}
	if p.EnvID != "" {
		args = append(args, "ENVID="+encodeXtext(p.EnvID))
	}
	if p.Auth != "" {
		args = append(args, "AUTH="+encodeXtext(p.Auth))
	}
	return strings.Join(args, " ")
}

func encodeXtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '!' || c > '~' || c == '+' || c == '=' {
			b.WriteString("+" + strings.ToUpper(strconv.FormatUint(uint64(c)|0x100, 16)[1:]))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// parseMail is mailCmd's parsing without a session.
func parseMail(arg string) (string, MailParams, bool) {
	toks := tokens(arg)
	if len(toks) < 2 || !strings.EqualFold(toks[0].text, "FROM:") {
		return "", MailParams{}, false
	}
	from, ok := extractPath(toks[1].text, false)
	if toks[1].bad || !ok {
		return "", MailParams{}, false
	}
	p, r := parseMailParams(texts(toks[2:]), true, true)
	return from, p, r == nil
}

// FuzzMailCommand checks that any MAIL FROM argument parses without
// panic, and that what parses formats back to a command that parses to
// the same address and parameters.
func FuzzMailCommand(f *testing.F) {
	for _, s := range []string{
		"FROM:<a@b.example>", "FROM: <> SIZE=10 BODY=8BITMIME", "from:<\"first last\"@example.com> RET=HDRS ENVID=a+2Bb",
		"FROM:<@r1,@r2:u@c.example> SMTPUTF8", "FROM:a@b>", "FROM:<<a@b>>", "FROM:<a (comment) @b>", "FROM:<a@b",
		"FROM:<a\\>b@c> AUTH=<>", "FROM:\"unclosed", "FROM:<a@b> NOTIFY=NEVER",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		from, p, ok := parseMail(arg)
		if !ok {
			return
		}
		if strings.ContainsAny(from, "\r\n") {
			t.Fatalf("address %q has a line break", from)
		}
		again := formatMail(from, p)
		from2, p2, ok := parseMail(again)
		if !ok || from2 != from || p2 != p {
			t.Fatalf("%q parsed to %q %+v; formatted %q parsed to %q %+v (ok %v)", arg, from, p, again, from2, p2, ok)
		}
	})
}

// countingSession accepts MAIL and RCPT only for addresses that do not
// start with "no", and counts what it accepted.
type countingSession struct {
	mails, rcpts, datas int
}

func (s *countingSession) Hello(context.Context, *Client) *Reply { return nil }
func (s *countingSession) Mail(_ context.Context, from string, _ MailParams) *Reply {
	if strings.HasPrefix(from, "no") {
		return reply(550, "5.7.1", "no")
	}
	s.mails++
	return nil
}
func (s *countingSession) Rcpt(_ context.Context, to string, _ RcptParams) *Reply {
	if strings.HasPrefix(to, "no") {
		return reply(550, "5.1.1", "no")
	}
	s.rcpts++
	return nil
}
func (s *countingSession) Data(context.Context) *Reply { s.datas++; return nil }
func (s *countingSession) Message(_ context.Context, r io.Reader) *Reply {
	io.Copy(io.Discard, r)
	return reply(250, "2.0.0", "Ok: queued as X")
}
func (s *countingSession) Reset(context.Context) {}
func (s *countingSession) Close()                {}

// FuzzSession runs the engine on any client input and checks that it
// never answers 250 to a MAIL or RCPT the Session did not accept, nor 354
// to a DATA the Session was not asked about, and that it ends when the
// client's input ends.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n",
		"HELO a\r\nMAIL FROM:<no@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
		"EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<no@d>\r\nBDAT 3 LAST\r\nabc",
		"EHLO a\r\nMAIL FROM:<a@b> SIZE=x\r\nRCPT TO:<>\r\nVRFY x\r\nETRN y\r\nRSET\r\nNOOP\r\n",
		"\r\n\n\x00\xff GET / HTTP/1.0\r\n", "EHLO a\r\nBDAT 99999999999999999999999\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		sess := &countingSession{}
		s := NewServer(BackendFunc(func(context.Context, *Client) (Session, *Reply) { return sess, nil }),
			Config{Hostname: "mx", ErrorSleep: -1, Timeout: 5 * time.Second})
		server, client := net.Pipe()
		done := make(chan struct{})
		go func() {
			s.ServeConn(context.Background(), server, nil)
			close(done)
		}()
		go func() {
			client.Write(in)
			client.Write([]byte("\r\n.\r\nQUIT\r\n"))
		}()
		var mails, rcpts, data354 int
		r := bufio.NewReader(client)
		client.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			switch {
			case strings.HasPrefix(line, "250 2.1.0 "):
				mails++
			case strings.HasPrefix(line, "250 2.1.5 "):
				rcpts++
			case strings.HasPrefix(line, "354 "):
				data354++
			}
		}
		client.Close()
		<-done
		if mails > sess.mails || rcpts > sess.rcpts || data354 > sess.datas {
			t.Fatalf("replies 250 MAIL %d, 250 RCPT %d, 354 %d; the Session accepted %d, %d, %d", mails, rcpts, data354, sess.mails, sess.rcpts, sess.datas)
		}
	})
}
