package relay

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maincf"
)

// A numeric maxproc on master.cf's port-25 smtpd caps the server's
// connections, as it caps Postfix's smtpd processes; Debian's "-" keeps
// ServerConfig's default (DefaultMaxConnections), not
// default_process_limit's 100.
func TestLoadTakesMasterCFMaxproc(t *testing.T) {
	for master, want := range map[string]int{
		"smtp inet n - y - 25 smtpd\n": 25,
		"smtp inet n - y - - smtpd\n":  0,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte("compatibility_level = 3.6\nmyhostname = mx.example.net\nmynetworks = 127.0.0.0/8\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "master.cf"), []byte(master), 0o644); err != nil {
			t.Fatal(err)
		}
		cf, err := maincf.Load(filepath.Join(dir, "main.cf"))
		if err != nil {
			t.Fatal(err)
		}
		ld, err := Load(context.Background(), cf, LoadOptions{Queue: queue.NewMemory(), DNS: []string{"127.0.0.1:1"}, InterfaceAddrs: loopbackOnly})
		if err != nil {
			t.Fatal(err)
		}
		if got := ld.Server.MaxConnections; got != want {
			t.Errorf("master.cf %q: Server.MaxConnections = %d, want %d", master, got, want)
		}
		srv, err := NewServer(ld.Server)
		if err != nil {
			t.Fatal(err)
		}
		if want == 0 {
			want = DefaultMaxConnections
		}
		if got := cap(srv.slots); got != want {
			t.Errorf("master.cf %q: the server allows %d connections, want %d", master, got, want)
		}
		ld.Close()
	}
}
