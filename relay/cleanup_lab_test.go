package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
	"github.com/mxrelay/mxrelay/transport/dnstest"
)

// cleanupLab is a route configuration recorded from Postfix 3.7.11 by
// relay/cleanup/testdata/lab/record.py: per case the replies, and the
// delivery status line of every recipient Postfix queued (to=, orig_to=,
// relay=).
type cleanupLab struct {
	Config string            `json:"config"`
	MainCF map[string]string `json:"main_cf"`
	Maps   map[string]string `json:"maps"`
	Cases  []struct {
		ID     string `json:"id"`
		Inject []struct {
			Cmd  string `json:"cmd"`
			Code int    `json:"code"`
			Enh  string `json:"enh"`
			Text string `json:"text"`
		} `json:"inject"`
		Deliveries []struct {
			MailFrom string   `json:"mail_from"`
			Rcpt     []string `json:"rcpt"`
			Headers  []string `json:"headers"`
			Body     []string `json:"body"`
		} `json:"deliveries"`
		Statuses []struct {
			Rcpt   string `json:"rcpt"`
			OrigTo string `json:"orig_to"`
			Relay  string `json:"relay"`
			Status string `json:"status"`
			Reason string `json:"reason"`
		} `json:"statuses"`
	} `json:"cases"`
}

// TestCleanupLab replays the virtual alias cases recorded from Postfix
// 3.7.11 (cleanup/testdata/lab/golden, from the cases of
// cleanup/testdata/lab/route): the same replies to RCPT and
// DATA, and the queue holds the recipients Postfix delivered to, each
// with its original recipient (orig_to=) and routed to the same next hop
// (relay=), or to an error route where Postfix bounced.
func TestCleanupLab(t *testing.T) {
	// Deliberate differences: the reply mxrelay gives instead.
	deliberate := map[string]string{}
	files, _ := filepath.Glob("cleanup/testdata/lab/golden/*.json")
	if len(files) < 2 {
		t.Fatalf("lab goldens missing: %v", files)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			lab, cf := readCleanupLab(t, file)
			sent := labMessages(t, lab.Config)
			d, err := dnstest.Start()
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			mem := queue.NewMemory()
			ld, err := Load(context.Background(), cf, LoadOptions{Queue: mem, DNS: []string{d.Addr()},
				InterfaceAddrs: func() ([]netip.Prefix, error) { return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}, nil }})
			if err != nil {
				t.Fatal(err)
			}
			defer ld.Close()
			ld.Server.NoDelivery = true
			_, addr := serve(t, ld.Server)
			for _, c := range lab.Cases {
				in := sent[c.ID]
				conn := labDialFrom(t, addr, in.client)
				var id string
				var accepted []string
				for _, step := range c.Inject {
					if m := injectRE.FindStringSubmatch(step.Cmd); m != nil && m[1] == "RCPT TO" && step.Code/100 == 2 {
						accepted = append(accepted, m[2])
					}
					var code int
					var enh, got string
					if step.Cmd == "DATA" {
						if code, _, _ = conn.cmd(t, "DATA"); code != 354 {
							t.Fatalf("%s: DATA: %d", c.ID, code)
						}
						code, enh, got = conn.cmd(t, strings.ReplaceAll(in.text, "{rcpts}", strings.Join(accepted, ", "))+"\r\n.") // as lab.py sends it
						if qid, ok := strings.CutPrefix(got, "Ok: queued as "); ok {
							id, got = qid, step.Text // queue IDs differ
						}
					} else {
						code, enh, got = conn.cmd(t, step.Cmd)
					}
					if want, ok := deliberate[lab.Config+"/"+c.ID]; ok && step.Cmd == "DATA" {
						if fmt.Sprintf("%d %s %s", code, enh, got) != want {
							t.Errorf("%s: DATA: got %d %s %s, want %s (deliberately not Postfix's)", c.ID, code, enh, got, want)
						}
						c.Statuses, c.Deliveries = nil, nil
						continue
					}
					if code != step.Code || enh != step.Enh || got != step.Text {
						t.Errorf("%s: %s:\n got  %d %s %s\n want %d %s %s", c.ID, step.Cmd, code, enh, got, step.Code, step.Enh, step.Text)
					}
				}
				conn.cmd(t, "QUIT")
				var want, gotRcpts []string
				for _, s := range c.Statuses {
					want = append(want, labRecipient(s.Rcpt, s.OrigTo, s.Relay, s.Status))
				}
				env, err := mem.Get(context.Background(), queue.ID(id))
				switch {
				case id == "":
				case errors.Is(err, queue.ErrNotFound):
					// DISCARD: answered as queued, never stored; Postfix
					// delivered nothing either.
				case err != nil:
					t.Fatalf("%s: %v", c.ID, err)
				case env.Held:
					// HOLD: kept in the hold queue, as Postfix's; nothing
					// is delivered.
				default:
					for _, d := range c.Deliveries {
						if d.MailFrom == "" && env.Sender != "" {
							continue // Postfix's bounce of the message
						}
						if !strings.EqualFold(d.MailFrom, env.Sender) {
							t.Errorf("%s: sender %q, Postfix %q", c.ID, env.Sender, d.MailFrom)
						}
						stored, body := storedMessage(t, mem, id)
						want := labHeaders(d.Headers, in.headers)
						if got := labHeaders(stored, in.headers); !slices.Equal(got, want) {
							t.Errorf("%s: headers\n got  %q\n want %q (Postfix)", c.ID, got, want)
						}
						if want := strings.Join(d.Body, "\n"); in.client != "127.0.0.1" && body != want {
							t.Errorf("%s: body\n got  %q\n want %q (Postfix)", c.ID, body, want)
						}
					}
					for _, rc := range env.Recipients {
						// In the bcc configurations only the BCC
						// addresses are rewritten: a recipient the
						// client did not give is a BCC, never notified.
						if strings.HasPrefix(lab.Config, "bcc") && !slices.Contains(accepted, rc.Address) && rc.Notify != queue.NotifyNever {
							t.Errorf("%s: %s: NOTIFY %v", c.ID, rc.Address, rc.Notify)
						}
						orig, _ := strings.CutPrefix(rc.ORCPT, "rfc822;")
						if strings.EqualFold(orig, rc.Address) {
							orig = ""
						}
						gotRcpts = append(gotRcpts, labRecipient(rc.Address, orig, rc.Destination, "queued"))
					}
				}
				slices.Sort(want)
				slices.Sort(gotRcpts)
				if !slices.Equal(gotRcpts, want) {
					t.Errorf("%s: queued\n got  %q\n want %q (Postfix)", c.ID, gotRcpts, want)
				}
			}
		})
	}
}

// labRecipient writes a queued recipient and a Postfix status line alike:
// "to <- orig_to @ next hop", the next hop of a Postfix relay= field
// ("127.0.0.5[127.0.0.5]:25") or of a queue destination
// ("smtp:[127.0.0.5]:25"), or "error" for a bounce without delivery.
func labRecipient(to, orig, hop, status string) string {
	switch {
	case status == "bounced" && hop == "none", strings.HasPrefix(hop, "error:"):
		hop = "error"
	case strings.HasPrefix(hop, "smtp:"):
		hop = strings.TrimPrefix(hop, "smtp:")
	default:
		if i := strings.IndexByte(hop, '['); i >= 0 {
			hop = hop[i:]
		}
	}
	return fmt.Sprintf("%s <- %s @ %s", strings.ToLower(to), strings.ToLower(orig), hop)
}

// labMessage is what a lab case sends: from which client, the message
// text (CRLF lines) and the names of its header fields, in order.
type labMessage struct {
	client, text string
	headers      []string
}

// labMessages reads the case file of a configuration
// (cleanup/testdata/lab/route/NAME.json) for the message of each case:
// its "message" with {case} replaced, or lab.py's own probe message.
// {rcpts} stays, for the recipients the server accepts.
func labMessages(t *testing.T, config string) map[string]labMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("cleanup/testdata/lab/route", config+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var cf struct {
		Cases []struct {
			ID, Client, Message string
		}
	}
	if err := json.Unmarshal(b, &cf); err != nil {
		t.Fatal(err)
	}
	out := map[string]labMessage{}
	for _, c := range cf.Cases {
		m := labMessage{client: c.Client, text: c.Message}
		if m.client == "" {
			m.client = "127.0.0.1"
		}
		if m.text == "" {
			m.text = "From: oracle <probe@sender.test>\nTo: {rcpts}\nSubject: oracle {case}\nX-Oracle-Case: {case}\nMessage-ID: <{case}.0@oracle.test>\n\nrouting probe {case}\n"
		}
		m.text = strings.ReplaceAll(m.text, "{case}", c.ID) // {rcpts}: the accepted ones, when sent
		for _, line := range strings.Split(m.text, "\n") {
			if line == "" {
				break
			}
			if name, _, ok := strings.Cut(line, ":"); ok && line[0] != ' ' && line[0] != '\t' {
				m.headers = append(m.headers, strings.ToLower(name))
			}
		}
		m.text = strings.ReplaceAll(m.text, "\n", "\r\n")
		out[c.ID] = m
	}
	return out
}

// labHeaders are the header fields of a delivered or stored message
// (folded lines joined by "\n") as the lab test compares them: without
// Received:, without the Message-ID the client sent (lab.py's probe
// message numbers it), and with the time and the queue ID of a Date: or
// Message-Id: that the server added (sent lists the names of the fields
// the client sent) written as <date> and <time.queueid@...>.
func labHeaders(fields, sent []string) []string {
	var out []string
	for _, f := range fields {
		name, value, _ := strings.Cut(f, ":")
		switch lower := strings.ToLower(name); {
		case lower == "received":
		case lower == "message-id" && slices.Contains(sent, lower):
		case (lower == "date" || lower == "resent-date") && !slices.Contains(sent, lower):
			out = append(out, name+": <date>")
		case (lower == "message-id" || lower == "resent-message-id") && !slices.Contains(sent, lower):
			out = append(out, name+":"+addedMessageID.ReplaceAllString(value, "<time.queueid@"))
		default:
			out = append(out, f)
		}
	}
	return out
}

// addedMessageID is the part of a Message-Id that Postfix's cleanup
// makes of the time and the queue ID.
var addedMessageID = regexp.MustCompile(`<[0-9]{14}\.[0-9A-Za-z]+@`)

// storedMessage reads the header fields of a queued message, folded
// lines joined by "\n" as the lab's sinks record them, and its body
// (lines joined by "\n", without the last line end).
func storedMessage(t *testing.T, mem *queue.Memory, id string) ([]string, string) {
	t.Helper()
	rc, err := mem.Body(context.Background(), queue.ID(id))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	lines := strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n")
	for i, line := range lines {
		if line == "" {
			return out, strings.Join(lines[i+1:], "\n")
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1] += "\n" + line
			continue
		}
		out = append(out, line)
	}
	return out, ""
}

// readCleanupLab reads a lab file (a golden, or a case file: both have
// main_cf and maps), writes its maps into a new directory and returns
// the lab and its main.cf (the lab's base and the file's parameters,
// {confdir} that directory).
func readCleanupLab(t *testing.T, file string) (cleanupLab, *maincf.File) {
	t.Helper()
	var lab cleanupLab
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &lab); err != nil {
		t.Fatal(err)
	}
	cf, err := maincf.Parse(strings.NewReader(labConfig(t, lab.MainCF, lab.Maps)), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	return lab, cf
}
