package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestLogFailureAtStop: a delivery-loop failure caused by the loop being
// stopped (a cancelled context) is logged at INFO, not ERROR: a graceful
// stop must not fire an admin's alerts; real failures stay at ERROR.
func TestLogFailureAtStop(t *testing.T) {
	var buf bytes.Buffer
	r := &MX{log: slog.New(slog.NewTextHandler(&buf, nil))}
	r.logFailure("cannot record delivery outcome", "queue_id", "X", "err", fmt.Errorf("store: %w", context.Canceled))
	r.logFailure("cannot record delivery outcome", "queue_id", "Y", "err", errors.New("disk full"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "level=INFO") || !strings.Contains(lines[1], "level=ERROR") {
		t.Errorf("log:\n%s", buf.String())
	}
}
