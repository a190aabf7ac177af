package lookup

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// A table that never answers (it ignores its context, as a blocked read
// does) makes a bounded lookup answer a Temporary *Error after the bound,
// naming the table and the key; the table's late answer is dropped.
func TestBoundedStalledTable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		stalled := TableFunc(func(context.Context, string) (string, bool, error) {
			<-release
			return "OK", true, nil
		})
		b := Bounded(stalled, 3*time.Second)
		start := time.Now()
		v, found, err := b.Lookup(context.Background(), "bob@example.com")
		if waited := time.Since(start); waited != 3*time.Second {
			t.Errorf("the lookup returned after %v, want the 3s bound", waited)
		}
		var le *Error
		if !errors.As(err, &le) || le.Kind != Temporary || le.Key != "bob@example.com" {
			t.Fatalf("Lookup = %q, %v, %v; want a Temporary *Error for the key", v, found, err)
		}
		if found || v != "" {
			t.Errorf("a timed-out lookup found %q", v)
		}
		close(release)
		synctest.Wait() // the stalled goroutine ends once its table returns
	})
}

// A table that honours its context sees it cancelled at the bound.
func TestBoundedCancelsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cancelled := make(chan error, 1)
		polite := TableFunc(func(ctx context.Context, _ string) (string, bool, error) {
			<-ctx.Done()
			cancelled <- ctx.Err()
			return "", false, ctx.Err()
		})
		_, _, err := Bounded(polite, time.Second).Lookup(context.Background(), "k")
		if err == nil {
			t.Fatal("no error past the bound")
		}
		synctest.Wait()
		if got := <-cancelled; !errors.Is(got, context.DeadlineExceeded) {
			t.Errorf("the table's context ended with %v, want DeadlineExceeded", got)
		}
	})
}

// Answers and errors within the bound pass through unchanged; a caller
// that gives up gets a Temporary error carrying its own cause.
func TestBoundedPassesAnswers(t *testing.T) {
	cause := errors.New("backend says no")
	tab := TableFunc(func(_ context.Context, key string) (string, bool, error) {
		switch key {
		case "found":
			return "OK", true, nil
		case "fail":
			return "", false, cause
		}
		return "", false, nil
	})
	b := Bounded(tab, time.Minute)
	if v, ok, err := b.Lookup(context.Background(), "found"); v != "OK" || !ok || err != nil {
		t.Errorf("found: %q, %v, %v", v, ok, err)
	}
	if _, ok, err := b.Lookup(context.Background(), "absent"); ok || err != nil {
		t.Errorf("absent: %v, %v", ok, err)
	}
	if _, _, err := b.Lookup(context.Background(), "fail"); err != cause {
		t.Errorf("fail: %v, want the table's own error", err)
	}

	synctest.Test(t, func(t *testing.T) {
		hang := TableFunc(func(ctx context.Context, _ string) (string, bool, error) {
			<-ctx.Done()
			return "", false, ctx.Err()
		})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(time.Second); cancel() }()
		_, _, err := Bounded(hang, time.Minute).Lookup(ctx, "k")
		var le *Error
		if !errors.As(err, &le) || le.Kind != Temporary || !errors.Is(err, context.Canceled) {
			t.Errorf("caller gone: %v, want a Temporary *Error wrapping context.Canceled", err)
		}
	})
}

// Bounded leaves alone what needs no bound or is bounded already, so a
// bound the caller chose survives mxrelay's default; Folded keeps it.
func TestBoundedWrapping(t *testing.T) {
	m := NewMap(map[string]string{"a": "b"})
	if Bounded(m, time.Second) != Table(m) {
		t.Error("an in-memory Map was wrapped")
	}
	var seen string
	tab := TableFunc(func(_ context.Context, key string) (string, bool, error) { seen = key; return "", false, nil })
	if _, ok := Bounded(tab, 0).(boundedTable); ok || Bounded(nil, time.Second) != nil {
		t.Error("Bounded(t, 0) or Bounded(nil) changed")
	}
	mine := Bounded(tab, time.Minute)
	again := Bounded(Folded(mine), DefaultLookupTimeout)
	bt, ok := again.(boundedTable)
	if !ok || bt.d != time.Minute {
		t.Fatalf("the caller's bound was replaced: %#v", again)
	}
	if _, _, err := again.Lookup(context.Background(), "Bob@Example.COM"); err != nil || seen != "bob@example.com" {
		t.Errorf("Folded(Bounded(t)) asked %q (%v), want the folded key", seen, err)
	}
	o := &OpenOptions{LookupTimeout: -1}
	unbounded := o.UserTable(tab)
	if bt, ok := Bounded(unbounded, DefaultLookupTimeout).(boundedTable); !ok || bt.d >= 0 {
		t.Errorf("a negative LookupTimeout was replaced by a later default bound: %#v", bt)
	}
	synctest.Test(t, func(t *testing.T) {
		slow := TableFunc(func(context.Context, string) (string, bool, error) {
			time.Sleep(time.Hour)
			return "OK", true, nil
		})
		if v, ok, err := Bounded(slow, -1).Lookup(context.Background(), "k"); v != "OK" || !ok || err != nil {
			t.Errorf("an unbounded table's slow answer was cut: %q, %v, %v", v, ok, err)
		}
	})
	if bt, ok := (*OpenOptions)(nil).UserTable(tab).(boundedTable); !ok || bt.d != DefaultLookupTimeout {
		t.Error("nil OpenOptions does not bound by DefaultLookupTimeout")
	}
}

// A table that panics on its own goroutine answers a Temporary error
// instead of ending the process.
func TestBoundedRecoversPanic(t *testing.T) {
	boom := TableFunc(func(context.Context, string) (string, bool, error) { panic("nil map") })
	_, _, err := Bounded(boom, time.Minute).Lookup(context.Background(), "k")
	var le *Error
	if !errors.As(err, &le) || le.Kind != Temporary || !strings.Contains(err.Error(), "nil map") {
		t.Fatalf("Lookup of a panicking table = %v, want a Temporary *Error naming the panic", err)
	}
}
