package daemon

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

// TestReadmeQuickStart follows the README's quick start to the letter, from
// a fresh clone (with the work tree's uncommitted changes, if any): every command of its code blocks is run as written, with
// three substitutions only: the clone is of this repository on disk (no
// network), the demo's ports are free loopback ports given with -listen and
// -demo-primary as the README says to change them, and "-dns 127.0.0.1:1"
// is added so that the test never asks the machine's resolver. Then the
// demo is stopped with Ctrl-C (SIGINT to its process group, as a terminal
// sends it) and started again with the command its banner printed.
// "go test -race ./..." is checked to be there, not run: it is what runs
// this test.
func TestReadmeQuickStart(t *testing.T) {
	git := testenv.NeedProgram(t, "git")
	goProg := testenv.NeedProgram(t, "go")
	swaks := testenv.NeedProgram(t, "swaks")
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(git, "-C", root, "rev-parse", "--is-inside-work-tree").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s is not a git checkout (CI is unset, so this test skips): %s", root, out)
		}
		t.Fatalf("%s is not a git checkout: %s", root, out)
	}
	cmds := quickStartCommands(t, filepath.Join(root, "README.md"))

	// Free loopback ports for the demo MX and its primary.
	listenAddr, primaryAddr := freeAddr(t), freeAddr(t)
	const noResolver = "-dns 127.0.0.1:1"

	dir := t.TempDir()
	var demoArgs, swaksArgs []string
	sawPlainRun, sawTests := false, false
	for _, c := range cmds {
		f := strings.Fields(c)
		switch {
		case len(f) == 3 && f[0] == "git" && f[1] == "clone":
			dest := strings.TrimSuffix(filepath.Base(f[2]), ".git")
			if out, err := exec.Command(git, "clone", "-q", root, filepath.Join(dir, dest)).CombinedOutput(); err != nil {
				t.Fatalf("%s (from %s): %v\n%s", c, root, err, out)
			}
			overlayWorkTree(t, git, root, filepath.Join(dir, dest))
		case len(f) == 2 && f[0] == "cd":
			dir = filepath.Join(dir, f[1])
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
				t.Fatalf("%s: not the repository: %v", c, err)
			}
		case c == "go run ./examples/mxrelayd":
			sawPlainRun = true // the same, on the default ports 2525 and 2526
		case strings.HasPrefix(c, "go run ./examples/mxrelayd ") && strings.Contains(c, "-listen ") && strings.Contains(c, "-demo-primary "):
			for i := 0; i < len(f); i++ {
				switch f[i] {
				case "-listen":
					i++
					f[i] = listenAddr
				case "-demo-primary":
					i++
					f[i] = primaryAddr
				}
			}
			demoArgs = append(f, strings.Fields(noResolver)...)
		case len(f) > 0 && f[0] == "swaks":
			swaksArgs = strings.Fields(strings.ReplaceAll(c, "127.0.0.1:2525", listenAddr))[1:]
		case c == "go test -race ./...":
			sawTests = true
		default:
			t.Fatalf("the README's quick start has a command this test does not know how to follow: %q", c)
		}
	}
	if !sawPlainRun || demoArgs == nil || swaksArgs == nil || !sawTests {
		t.Fatalf("the README's quick start lacks a command (go run with no flags %v, with -listen and -demo-primary %v, swaks %v, go test %v):\n%q",
			sawPlainRun, demoArgs != nil, swaksArgs != nil, sawTests, cmds)
	}

	// The demo, as the README starts it.
	demo := startGroup(t, dir, goProg, demoArgs[1:]...)
	banner := demo.waitFor(t, "the banner", 5*time.Minute, "Stop with Ctrl-C")
	for _, want := range []string{"listening    " + listenAddr, "relays to    [" + hostOf(primaryAddr) + "]:" + portOf(primaryAddr), "swaks --server " + listenAddr, "(a new temporary directory"} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner lacks %q:\n%s", want, banner)
		}
	}
	out, err := exec.Command(swaks, swaksArgs...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "250 2.0.0 Ok: queued as ") {
		t.Fatalf("swaks %s: %v\n%s", strings.Join(swaksArgs, " "), err, out)
	}
	demo.waitFor(t, "the delivery to the stand-in primary", time.Minute,
		"stand-in primary received a message from <you@sender.example> for <alice@example.test>")

	// The restart hint names the flags given and a command that works
	// after go run: go run again, from the repository's directory.
	restart := restartLine(demo.out.String())
	queueDir := ""
	if f := strings.Fields(restart); len(f) > 1 && f[len(f)-2] == "-queue" {
		queueDir = f[len(f)-1]
		t.Cleanup(func() { os.RemoveAll(queueDir) })
	}
	for _, want := range []string{"go run ./examples/mxrelayd ", "-listen " + listenAddr, "-demo-primary " + primaryAddr, noResolver, "-queue " + queueDir} {
		if queueDir == "" || !strings.HasPrefix(restart, "go run ./examples/mxrelayd ") || !strings.Contains(restart, want) {
			t.Fatalf("the banner's restart command %q lacks %q:\n%s", restart, want, demo.out)
		}
	}
	demo.interrupt(t)
	if !strings.Contains(demo.out.String(), "shutting down; the queue stays in "+queueDir) {
		t.Errorf("no shutdown message naming the queue:\n%s", demo.out)
	}

	// Started again with the banner's command, it runs on the same queue.
	again := startGroup(t, dir, "/bin/sh", "-c", "exec "+restart) // as typed at a shell prompt
	banner = again.waitFor(t, "the banner after the restart", 5*time.Minute, "Stop with Ctrl-C")
	if !strings.Contains(banner, "queue        "+queueDir) || !strings.Contains(banner, "listening    "+listenAddr) || strings.Contains(banner, "temporary") {
		t.Errorf("after %q, the banner:\n%s", restart, banner)
	}
	again.interrupt(t)
}

// overlayWorkTree brings the changes of root's work tree that are not
// committed (modified, deleted and new files that git does not ignore)
// into the clone, so that the walkthrough tests what is being worked on;
// in CI the work tree is clean and the clone is exactly HEAD.
func overlayWorkTree(t *testing.T, git, root, clone string) {
	t.Helper()
	out, err := exec.Command(git, "-C", root, "ls-files", "-z", "--modified", "--deleted", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, name := range strings.Split(string(out), "\x00") {
		if name == "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, name))
		dst := filepath.Join(clone, name)
		switch {
		case os.IsNotExist(err):
			os.Remove(dst)
		case err != nil:
			t.Fatal(err)
		default:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// quickStartCommands returns the lines of the sh code blocks of the
// README's "## Quick start" section.
func quickStartCommands(t *testing.T, readme string) []string {
	t.Helper()
	f, err := os.Open(readme)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []string
	section, block := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "## "):
			section = l == "## Quick start"
		case !section:
		case l == "```sh":
			block = true
		case l == "```":
			block = false
		case block && strings.TrimSpace(l) != "":
			cmds = append(cmds, strings.TrimSpace(l))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cmds) == 0 {
		t.Fatal("README.md has no quick start commands")
	}
	return cmds
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// restartLine is the banner's last line: the command to start again.
func restartLine(out string) string {
	_, rest, ok := strings.Cut(out, "Stop with Ctrl-C")
	if !ok {
		return ""
	}
	for _, l := range strings.Split(rest, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "go run ") || strings.Contains(l, "mxrelayd -") {
			return l
		}
	}
	return ""
}

// group is a command run in a process group of its own, as a shell runs
// a job in a terminal.
type group struct {
	cmd    *exec.Cmd
	out    *output
	exited chan error
}

func startGroup(t *testing.T, dir, prog string, args ...string) *group {
	t.Helper()
	g := &group{cmd: exec.Command(prog, args...), out: &output{}, exited: make(chan error, 1)}
	g.cmd.Dir = dir
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.exited <- g.cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("%s output:\n%s", g.cmd, g.out)
		}
	})
	return g
}

// waitFor waits until the output holds want, and returns it.
func (g *group) waitFor(t *testing.T, what string, timeout time.Duration, want string) string {
	t.Helper()
	deadline := time.After(timeout)
	for !strings.Contains(g.out.String(), want) {
		select {
		case err := <-g.exited:
			g.exited <- err
			t.Fatalf("waiting for %s: %s exited: %v\n%s", what, g.cmd, err, g.out)
		case <-deadline:
			t.Fatalf("no %s after %v:\n%s", what, timeout, g.out)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return g.out.String()
}

// interrupt sends SIGINT to the group, as Ctrl-C in its terminal does,
// and waits for mxrelayd's clean shutdown. go run's own exit status is
// not checked: it reports 1 whenever it was interrupted, whatever the
// program did.
func (g *group) interrupt(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(-g.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-g.exited:
		g.exited <- err
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not stop on Ctrl-C:\n%s", g.cmd, g.out)
	}
	for _, l := range strings.Split(g.out.String(), "\n") {
		if strings.HasPrefix(l, "mxrelayd: ") && !strings.HasPrefix(l, "mxrelayd: shutting down;") {
			t.Errorf("%s: %s", g.cmd, l)
		}
	}
	if !strings.Contains(g.out.String(), "mxrelayd: shutting down; the queue stays in ") {
		t.Errorf("%s: no clean shutdown after Ctrl-C:\n%s", g.cmd, g.out)
	}
}
