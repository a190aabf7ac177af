package policy

import (
	"context"
	"strings"
	"testing"
)

// Programming mistakes are 451 4.3.5 decisions that say what is wrong,
// never a panic nor "unknown stage Stage(0)".
func TestCheckMisuse(t *testing.T) {
	ctx := context.Background()
	p := mustNew(t, backupMX())
	var nilPolicy *Policy
	for _, tc := range []struct {
		name string
		p    *Policy
		req  *Request
		want string
	}{
		{"nil request", p, nil, "nil *Request"},
		{"zero stage", p, &Request{Recipient: "u@backup.example"}, "Request.Stage is not set"},
		{"bad stage", p, &Request{Stage: 42}, "Request.Stage 42 is not a stage"},
		{"nil policy", nilPolicy, &Request{Stage: StageRcpt}, "nil *Policy"},
	} {
		d := tc.p.Check(ctx, tc.req)
		if d.Verdict != Defer || d.Reply() != "451 4.3.5 Server configuration error" {
			t.Errorf("%s: %v, want a 451 4.3.5 defer", tc.name, d)
		}
		if d.Err == nil || !strings.Contains(d.Err.Error(), tc.want) {
			t.Errorf("%s: Err = %v, want it to say %q", tc.name, d.Err, tc.want)
		}
	}
}
