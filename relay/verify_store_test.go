package relay

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/policy"
)

// The Verifier's answers survive a restart through CachePath: a second
// Verifier on the same file answers from it without probing (its router
// is nil: a probe would fail); expired answers, lines that do not parse
// and a file grown with stale lines are dealt with at start.
func TestVerifyCacheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "verify_cache")
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	v, err := NewVerifier(VerifyConfig{CachePath: path, Now: clock}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	v.record("known@example.com", policy.Verification{Status: policy.VerifyDeliverable, Reason: "250 ok"})
	v.record("gone@example.com", policy.Verification{Status: policy.VerifyUndeliverable, Reason: "550 no"})
	v.record("gone@example.com", policy.Verification{Status: policy.VerifyUndeliverable, Reason: "550 still no"})
	v.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("not json\n{\"a\":\"x@example.com\",\"s\":99,\"t\":1}\n")
	f.Close()

	now = now.Add(4 * 24 * time.Hour) // past the negative expiry (3d), within the positive (31d)
	v, err = NewVerifier(VerifyConfig{CachePath: path, Now: clock}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	got, err := v.Verify(context.Background(), "Known@Example.COM")
	if err != nil || got.Status != policy.VerifyDeliverable || got.Reason != "250 ok" {
		t.Errorf("after a restart: %+v %v", got, err)
	}
	if _, ok := v.cache["gone@example.com"]; ok {
		t.Error("an expired answer was loaded")
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "not json") || strings.Count(string(b), "\n") != 1 {
		t.Errorf("the cache file was not rewritten without its stale lines:\n%s", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v", fi.Mode())
	}
}
