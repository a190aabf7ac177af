package maillog

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// listenSyslog stands in for the syslog daemon's socket.
func listenSyslog(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readDatagram(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// Each record is one datagram to the socket, in the syslog format; when
// the daemon restarts (a new socket at the same path), the next record
// reaches the new one.
func TestSyslogWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	daemon := listenSyslog(t, path)
	w, err := DialSyslog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	h := NewHandler(w, &Options{Syslog: true, PID: 7, Location: time.UTC})
	rec := slog.NewRecord(time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC), slog.LevelInfo, Removed, 0)
	rec.Add(KeyQueueID, "ABC")
	if err := h.Handle(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if got, want := readDatagram(t, daemon), "<22>Dec  7 01:02:03 postfix/qmgr[7]: ABC: removed"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}

	daemon.Close()
	os.Remove(path)
	daemon = listenSyslog(t, path)
	defer daemon.Close()
	if err := h.Handle(context.Background(), rec); err != nil {
		t.Fatalf("after the daemon restarted: %v", err)
	}
	if got := readDatagram(t, daemon); got != "<22>Dec  7 01:02:03 postfix/qmgr[7]: ABC: removed" {
		t.Errorf("after the restart: got %q", got)
	}
}

// No socket: DialSyslog says so.
func TestDialSyslogMissing(t *testing.T) {
	if _, err := DialSyslog(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("DialSyslog of a missing socket succeeded")
	}
}
