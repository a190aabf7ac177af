package maillog_test

import (
	"context"
	"log/slog"
	"time"
)

// stampHandler gives every record the same time, for examples.
type stampHandler struct{ slog.Handler }

func (h stampHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Time = time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	return h.Handler.Handle(ctx, r)
}
