package relay

import (
	"context"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
)

// TestRequeueRefilters: postsuper -r (Scheduler.Requeue) gives a message
// the content filter it would get now, as Postfix's pickup and cleanup
// do with the message postsuper -r re-injects: a filter named by an
// earlier content_filter or FILTER action is dropped for content_filter,
// or for none; Kick (postqueue -i) keeps it.
func TestRequeueRefilters(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, contentFilter, want, wantDest string
	}{
		{name: "content_filter", contentFilter: "smtp-new:[127.0.0.1]:10024", want: "smtp-new:[127.0.0.1]:10024", wantDest: "smtp-new:[127.0.0.1]:10024"},
		{name: "none", want: "", wantDest: ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			master := "smtp inet n - n - - smtpd\nsmtp-new unix - - n - 2 smtp\nsmtp-old unix - - n - 2 smtp\n"
			main := "compatibility_level = 3.6\nmyhostname = gw.example.net\nrelay_domains = example.test\ninet_interfaces = 127.0.0.1\n"
			if c.contentFilter != "" {
				main += "content_filter = " + c.contentFilter + "\n"
			}
			ld, err := loadWithMaster(t, main, master)
			if err != nil {
				t.Fatal(err)
			}
			s := ld.MX.Queue()
			e := &queue.Envelope{Sender: "s@elsewhere.example", Held: true, Filter: "smtp-old:[127.0.0.1]:1",
				Recipients: []queue.Recipient{{Address: "u@example.test", Destination: "smtp-old:[127.0.0.1]:1"}}}
			if err := s.Store(ctx, e, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
				t.Fatal(err)
			}
			if err := s.Kick(ctx, e.ID); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(ctx, e.ID); err != nil || got.Filter != "smtp-old:[127.0.0.1]:1" {
				t.Fatalf("after Kick: %+v %v, want the filter kept", got, err)
			}
			if err := s.Requeue(ctx, e.ID); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Filter != c.want || got.Recipients[0].Destination != c.wantDest {
				t.Errorf("after Requeue: filter %q destination %q, want %q and %q", got.Filter, got.Recipients[0].Destination, c.want, c.wantDest)
			}
		})
	}
}
