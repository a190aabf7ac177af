package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

// atRepository moves to the repository's top (relaybench builds
// ./examples/mxrelayd from there) for the test, and starts a sink.
func atRepository(t *testing.T) *sink {
	t.Helper()
	wd, _ := os.Getwd()
	if err := os.Chdir(filepath.Join(wd, "..", "..")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(wd) })
	sink, err := startSink()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.srv.Close() })
	return sink
}

// A small run of mxrelayd relays every message smtp-source sends to the
// counting sink, over the connections the sink counts, and the report
// prints its figures.
func TestRunMxrelayd(t *testing.T) {
	testenv.NeedProgram(t, "smtp-source")
	sink := atRepository(t)
	r, err := run(systemsByName["mxrelayd"], filepath.Join(t.TempDir(), "mxrelayd"), sink, 4, 40, 2048, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.relayed != 40 || r.conns < 1 || r.conns > 40 || r.cpuS <= 0 || r.rssKiB <= 0 {
		t.Errorf("result %+v", r)
	}
	var out bytes.Buffer
	report(&out, []result{r}, 4, 40, 2048)
	if !strings.Contains(out.String(), "mxrelayd") || !strings.Contains(out.String(), "40 messages of 2048 bytes") {
		t.Errorf("report:\n%s", out.String())
	}
}

// -deferred: the sink defers every message, and each first attempt is
// counted as relayed (the latency probe's apart), none twice.
func TestRunMxrelaydDeferred(t *testing.T) {
	testenv.NeedProgram(t, "smtp-source")
	sink := atRepository(t)
	sink.deferAll = true
	r, err := run(systemsByName["mxrelayd"], filepath.Join(t.TempDir(), "mxrelayd"), sink, 4, 40, 2048, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.relayed < 40 || r.relayed > 40+int64(r.samples) || sink.msgs.Load() != 0 {
		t.Errorf("relayed %d (probe %d), sink took %d messages", r.relayed, r.samples, sink.msgs.Load())
	}
}

// -idle: every connection to mxrelayd is greeted and the memory they
// hold is measured and reported per connection.
func TestIdleMxrelayd(t *testing.T) {
	sink := atRepository(t)
	r, err := idle(systemsByName["mxrelayd"], filepath.Join(t.TempDir(), "mxrelayd"), sink, 30)
	if err != nil {
		t.Fatal(err)
	}
	if r.opened != 30 || r.greets != 30 || r.beforeKiB <= 0 || r.afterKiB <= 0 {
		t.Errorf("result %+v", r)
	}
	var out bytes.Buffer
	reportIdle(&out, []idleResult{r})
	if !strings.Contains(out.String(), "mxrelayd") || !strings.Contains(out.String(), "KiB per greeted") {
		t.Errorf("report:\n%s", out.String())
	}
}
