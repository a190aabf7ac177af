package relay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/mxrelay/mxrelay/internal/regfile"
	"github.com/mxrelay/mxrelay/policy"
)

// verifyRecord is one answer in the verification cache file, a JSON
// line: address, status, reason, when (Unix nanoseconds).
type verifyRecord struct {
	Address string              `json:"a"`
	Status  policy.VerifyStatus `json:"s"`
	Reason  string              `json:"r,omitempty"`
	At      int64               `json:"t"`
}

// maxVerifyLine caps a line of the cache file when it is read back.
const maxVerifyLine = 16 << 10

// verifyStore keeps the Verifier's answers in a file across restarts, as
// Postfix's address_verify_map (a btree under data_directory) keeps
// them: an append-only log of JSON lines, the last answer for an address
// winning, rewritten without stale lines when it is read at start and
// has grown to more than twice its live entries.
type verifyStore struct {
	path string
	mu   sync.Mutex // the file, written by probes only: no lookup waits on it
	f    *os.File
}

// openVerifyStore reads path (a missing file is an empty cache; lines
// that do not parse, and answers expired by now, are dropped) and opens
// it for appending.
func openVerifyStore(path string, now time.Time, expire func(policy.VerifyStatus) time.Duration, max int) (*verifyStore, map[string]verifyEntry, error) {
	entries := make(map[string]verifyEntry)
	lines := 0
	if f, err := regfile.OpenNoFollow(path); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 4096), maxVerifyLine)
		for sc.Scan() {
			lines++
			var rec verifyRecord
			if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Address == "" || rec.Status < policy.VerifyDeliverable || rec.Status > policy.VerifyDeferred {
				continue
			}
			at := time.Unix(0, rec.At)
			if now.Sub(at) >= expire(rec.Status) || at.After(now.Add(time.Minute)) {
				delete(entries, rec.Address)
				continue
			}
			entries[rec.Address] = verifyEntry{v: policy.Verification{Status: rec.Status, Reason: rec.Reason}, at: at}
		}
		err := sc.Err()
		f.Close()
		if err != nil && !errors.Is(err, bufio.ErrTooLong) {
			return nil, nil, fmt.Errorf("relay: verification cache %s: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("relay: verification cache: %w", err)
	}
	for k := range entries {
		if len(entries) <= max {
			break
		}
		delete(entries, k)
	}
	s := &verifyStore{path: path}
	if lines > 2*len(entries) {
		if err := s.rewrite(entries); err != nil {
			return nil, nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("relay: verification cache: %w", err)
	}
	s.f = f
	return s, entries, nil
}

// rewrite replaces the file with the live entries (temporary file, then
// rename).
func (s *verifyStore) rewrite(entries map[string]verifyEntry) error {
	var b bytes.Buffer
	for k, e := range entries {
		line, _ := json.Marshal(verifyRecord{Address: k, Status: e.v.Status, Reason: e.v.Reason, At: e.at.UnixNano()})
		b.Write(append(line, '\n'))
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".verify_cache-")
	if err != nil {
		return fmt.Errorf("relay: verification cache: %w", err)
	}
	_, err = tmp.Write(b.Bytes())
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("relay: verification cache: %w", err)
	}
	return nil
}

// append records one answer. A write error is returned for the log; the
// answer stays in memory.
func (s *verifyStore) append(key string, e verifyEntry) error {
	line, err := json.Marshal(verifyRecord{Address: key, Status: e.v.Status, Reason: e.v.Reason, At: e.at.UnixNano()})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err = s.f.Write(append(line, '\n'))
	return err
}

func (s *verifyStore) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}
