package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSpoolDamage truncates every kind of spool file (segment, message
// file, envelope update, lock file) at many lengths and flips bits at many
// places, then opens the spool: it always opens; every message it shows
// has exactly its acknowledged envelope, and its body either reads back
// intact or fails with ErrCorrupt (never wrong bytes read as whole);
// messages in undamaged files are all there; and a message that is gone
// was reported (its file moved aside, never silently dropped).
func TestSpoolDamage(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	clean := filepath.Join(base, "clean")
	s := openT(t, clean)
	storeBatch(t, s, "A", "B", "C")
	large := strings.Repeat("large body\r\n", 11000) // 132 KB: a file of its own
	if err := s.Store(ctx, &Envelope{ID: "L", Recipients: []Recipient{{Address: "u@example.com"}}}, strings.NewReader(large)); err != nil {
		t.Fatal(err)
	}
	if err := s.Modify(ctx, "A", func(e *Envelope) error { e.Attempts = 1; return nil }); err != nil {
		t.Fatal(err)
	}
	seg := segName(s.idx.items["A"].seg)
	want := map[ID]string{}
	wantEnv := map[ID]Envelope{}
	s.Walk(ctx, func(e *Envelope) error {
		want[e.ID], wantEnv[e.ID] = body(t, s, e.ID), e.Clone()
		return nil
	})
	s.Close()
	// Which messages each file holds: damaging it may lose those only.
	holds := map[string][]ID{"msg/" + seg: {"A", "B", "C"}, "msg/L": {"L"}, "msg/A.env": {"A"}, "lock": nil}

	opens := 0
	for file, victims := range holds {
		b, err := os.ReadFile(filepath.Join(clean, file))
		if err != nil {
			t.Fatal(err)
		}
		var damages []func([]byte) []byte
		step := max(1, len(b)/12)
		for n := 0; n < len(b); n += step {
			damages = append(damages, func(b []byte) []byte { return b[:n] })
		}
		damages = append(damages, func(b []byte) []byte { return b[:len(b)-1] })
		for i := 0; i < len(b); i += max(1, len(b)/29) {
			for _, bit := range []byte{0x01, 0x80} {
				damages = append(damages, func(b []byte) []byte { b[i] ^= bit; return b })
			}
		}
		for k, damage := range damages {
			dir := filepath.Join(base, fmt.Sprint("d", opens))
			opens++
			copyDir(t, clean, dir)
			bad := damage(append([]byte(nil), b...))
			if err := os.WriteFile(filepath.Join(dir, file), bad, 0o600); err != nil {
				t.Fatal(err)
			}
			what := fmt.Sprintf("%s damage %d (%d of %d bytes)", file, k, len(bad), len(b))
			s, err := OpenSpool(ctx, dir, nil)
			if err != nil {
				t.Fatalf("%s: the spool does not open: %v", what, err)
			}
			for id, wb := range want {
				e, err := s.Get(ctx, id)
				if errors.Is(err, ErrNotFound) {
					if !containsID(victims, id) {
						t.Errorf("%s: message %s, in an undamaged file, is gone", what, id)
					} else if len(s.Recovered()) == 0 {
						t.Errorf("%s: message %s is gone and nothing was reported", what, id)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: Get %s: %v", what, id, err)
				}
				if we := wantEnv[id]; fmt.Sprint(e.Recipients, e.Attempts, e.Size) != fmt.Sprint(we.Recipients, we.Attempts, we.Size) {
					t.Errorf("%s: message %s shows envelope %+v, want %+v", what, id, e, we)
				}
				rc, err := s.Body(ctx, id)
				if err != nil {
					t.Errorf("%s: message %s listed but its body does not open: %v", what, id, err)
					continue
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil && !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s: message %s: body read error %v, want ErrCorrupt", what, id, err)
				}
				if err == nil && string(got) != wb {
					t.Errorf("%s: message %s: damaged body read as whole", what, id)
				}
			}
			s.Close()
			os.RemoveAll(dir)
		}
	}
	t.Logf("%d damaged spools opened", opens)
}

func containsID(ids []ID, id ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
