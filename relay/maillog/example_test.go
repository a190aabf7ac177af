package maillog_test

import (
	"log/slog"
	"os"
	"time"

	"github.com/mxrelay/mxrelay/relay/maillog"
)

// The relay's events as Postfix's lines. The time stamp comes from the
// record: here a fixed one, so that the output does not change.
func ExampleHandler() {
	h := maillog.NewHandler(os.Stdout, &maillog.Options{Hostname: "mx2.example.com", PID: 4242, Location: time.UTC})
	logger := slog.New(stampHandler{h})
	logger.Info(maillog.Reject, maillog.KeyStage, "RCPT", maillog.KeyClient, "unknown[192.0.2.1]",
		maillog.KeyReply, "554 5.7.1 <u@elsewhere.example>: Relay access denied",
		maillog.KeyFrom, "a@sender.example", maillog.KeyTo, "u@elsewhere.example",
		maillog.KeyProto, "ESMTP", maillog.KeyHelo, "client.example")
	logger.Info(maillog.Removed, maillog.KeyQueueID, "8070D442D8921C009D84")
	// Output:
	// Dec  7 01:02:03 mx2 postfix/smtpd[4242]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 <u@elsewhere.example>: Relay access denied; from=<a@sender.example> to=<u@elsewhere.example> proto=ESMTP helo=<client.example>
	// Dec  7 01:02:03 mx2 postfix/qmgr[4242]: 8070D442D8921C009D84: removed
}

func ExampleFormatDelay() {
	for _, d := range []time.Duration{3 * time.Millisecond, 214 * time.Millisecond, 1234 * time.Millisecond, 61 * time.Second} {
		os.Stdout.WriteString(maillog.FormatDelay(d) + "\n")
	}
	// Output:
	// 0
	// 0.21
	// 1.2
	// 61
}

// Lines written by one goroutine: the sessions that log do not wait for
// the file or for each other. Close writes what is left.
func ExampleBuffered() {
	out := maillog.NewBuffered(os.Stdout, nil)
	h := maillog.NewHandler(out, &maillog.Options{Hostname: "mx2.example.com", PID: 4242, Location: time.UTC})
	logger := slog.New(stampHandler{h})
	logger.Info(maillog.Removed, maillog.KeyQueueID, "8070D442D8921C009D84")
	if err := out.Close(); err != nil {
		panic(err)
	}
	// Output:
	// Dec  7 01:02:03 mx2 postfix/qmgr[4242]: 8070D442D8921C009D84: removed
}
