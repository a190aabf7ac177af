package relay

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maillog"
	"github.com/mxrelay/mxrelay/transport"
	"github.com/mxrelay/mxrelay/transport/client"
)

// benchLoggers are the log modes of mxrelayd's -log-format, writing to
// io.Discard so that the formatting is measured, not a disk.
func benchLoggers() []struct {
	name string
	log  *slog.Logger
} {
	return []struct {
		name string
		log  *slog.Logger
	}{
		{"none", nil},
		{"text", slog.New(slog.NewTextHandler(io.Discard, nil))},
		{"json", slog.New(slog.NewJSONHandler(io.Discard, nil))},
		{"postfix", slog.New(maillog.NewHandler(io.Discard, &maillog.Options{Hostname: "mx2.example.test"}))},
	}
}

// BenchmarkAcceptLog: messages accepted (BenchmarkAcceptMemory's
// sessions) with each log mode: connect and disconnect are per session,
// client=, message-id= and the queued record per message.
func BenchmarkAcceptLog(b *testing.B) {
	for _, l := range benchLoggers() {
		b.Run(l.name, func(b *testing.B) { benchAccept(b, queue.NewMemory(), l.log) })
	}
}

// BenchmarkDeliveryLog: what the delivery path logs for one message
// relayed to one recipient (the claim's "(queue active)", the status
// line, "removed"), with each log mode. The delivery itself does not
// change with the mode and is left out.
func BenchmarkDeliveryLog(b *testing.B) {
	for _, l := range benchLoggers() {
		b.Run(l.name, func(b *testing.B) {
			log := l.log
			if log == nil {
				log = slog.New(slog.DiscardHandler)
			}
			r := &MX{log: log, obs: nopObserver{}, c: Config{Now: time.Now}}
			now := time.Now()
			env := queue.Envelope{ID: "8070D442D8921C009D84", Sender: "s@sender.example", Size: 4210, Arrival: now.Add(-time.Second),
				Recipients: []queue.Recipient{{Address: "u@example.test", State: queue.Delivered, Reason: "250 2.0.0 Ok: queued as 4C1D2F3"}}}
			results := map[int]*attemptResult{0: {transport: "relay", tried: true, handoff: now, done: now.Add(200 * time.Millisecond),
				res: transport.RecipientResult{Recipient: "u@example.test", Status: client.Delivered, Host: "primary.example.test",
					Addr: "192.0.2.7:25", Stage: client.StageDataDone, Reply: client.Reply{Code: 250, Enhanced: client.EnhancedCode{2, 0, 0}, Lines: []string{"2.0.0 Ok: queued as 4C1D2F3"}}}}}
			rep := queue.Report{Envelope: env, Delivered: []int{0}, Final: true}
			attempted := []int{0}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r.logActive(ctx, &env)
				r.logAttempts(rep, attempted, results, now)
				r.log.Info(maillog.Removed, maillog.KeyQueueID, string(env.ID))
			}
		})
	}
}
