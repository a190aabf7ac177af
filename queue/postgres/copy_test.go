package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
)

// failingReader gives n bytes, then err.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	clear(p[:k])
	r.n -= k
	return k, nil
}

// A large body (streamed with COPY) whose reader fails, or whose Store's
// context ends, after some chunks stores nothing and returns why; bodies
// of exactly one chunk and of one byte more are stored whole.
func TestStoreLargeFails(t *testing.T) {
	q, _ := openPrefix(t)
	readErr := errors.New("client went away")
	e := &queue.Envelope{Recipients: []queue.Recipient{{Address: "u@example.com"}}}
	if err := q.Store(context.Background(), e, &failingReader{n: 3<<20 + 5, err: readErr}); !errors.Is(err, readErr) {
		t.Errorf("Store with a failing reader = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e = &queue.Envelope{Recipients: []queue.Recipient{{Address: "u@example.com"}}}
	// After 2 MiB the context ends; the body goes on.
	r := io.MultiReader(bytes.NewReader(make([]byte, 2<<20)), readerFunc(func(p []byte) (int, error) { cancel(); clear(p); return len(p), nil }))
	if err := q.Store(ctx, e, r); !errors.Is(err, context.Canceled) {
		t.Errorf("Store whose context ends = %v", err)
	}
	n := 0
	q.Walk(context.Background(), func(*queue.Envelope) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d messages stored by failed Stores", n)
	}
	for _, size := range []int{1 << 20, 1<<20 + 1, 3 << 20} {
		body := bytes.Repeat([]byte{byte(size)}, size)
		body[size-1] = 'x'
		e := &queue.Envelope{Recipients: []queue.Recipient{{Address: "u@example.com"}}}
		if err := q.Store(context.Background(), e, bytes.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		if e.Size != int64(size) {
			t.Errorf("Size %d, want %d", e.Size, size)
		}
		rc, err := q.Body(context.Background(), e.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("a %d-byte body read back as %d bytes, %v", size, len(got), err)
		}
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
