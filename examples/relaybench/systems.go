package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// mxrelayd runs the mxrelayd built from this repository.
type mxrelayd struct{ cmd *exec.Cmd }

func startMxrelayd(dir, listen, sink string, extra []string) (proc, error) {
	bin := filepath.Join(dir, "mxrelayd")
	if out, err := exec.Command("go", "build", "-o", bin, "./examples/mxrelayd").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build (run from the repository): %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(mainCF(dir, sink)), 0o644); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "mxrelayd.log"))
	if err != nil {
		return nil, err
	}
	args := append([]string{"-config", filepath.Join(dir, "main.cf"), "-listen", listen,
		"-queue", filepath.Join(dir, "queue"), "-dns", "127.0.0.1:1", "-log-format", "postfix"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &mxrelayd{cmd: cmd}, nil
}

func (m *mxrelayd) usage() (float64, int64) {
	cpu, _ := procCPU(m.cmd.Process.Pid, false)
	return cpu, procStatusKiB(m.cmd.Process.Pid, "VmHWM:")
}

func (m *mxrelayd) current() int64 { return procStatusKiB(m.cmd.Process.Pid, "VmRSS:") }

func (m *mxrelayd) pids() []int { return []int{m.cmd.Process.Pid} }

func (m *mxrelayd) stop() {
	m.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		m.cmd.Process.Kill()
	}
}

// postfix is a private Postfix instance: its own configuration and queue
// directories, chroot off, smtpd on the benchmark's port.
type postfix struct{ etc, spool string }

func startPostfix(dir, listen, sink string, _ []string) (proc, error) {
	if _, err := user.Lookup("postfix"); err != nil {
		return nil, fmt.Errorf("the postfix user does not exist: apt-get install postfix")
	}
	p := &postfix{etc: filepath.Join(dir, "etc"), spool: filepath.Join(dir, "spool")}
	data := filepath.Join(dir, "data")
	for _, d := range []string{p.etc, p.spool, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if out, err := exec.Command("chown", "postfix", data).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("chown: %v: %s", err, out)
	}
	cf := mainCF(dir, sink) + fmt.Sprintf(`queue_directory = %s
data_directory = %s
mail_owner = postfix
setgid_group = postdrop
maillog_file = %s/maillog
maillog_file_prefixes = %s
syslog_name = postfix-bench
smtp_tls_security_level =
smtpd_tls_security_level =
biff = no
`, p.spool, data, dir, dir)
	if err := os.WriteFile(filepath.Join(p.etc, "main.cf"), []byte(cf), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(p.etc, "master.cf"), []byte(strings.ReplaceAll(masterCF, "LISTEN", listen)), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.Command("postfix", "-c", p.etc, "start").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("postfix start: %v: %s", err, out)
	}
	return p, nil
}

// masterCF is Debian's master.cf with chroot off and smtpd on LISTEN.
const masterCF = `LISTEN inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`

func (p *postfix) masterPID() int {
	b, err := os.ReadFile(filepath.Join(p.spool, "pid", "master.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// usage sums the master's own and reaped children's CPU with that of its
// live children, and their resident memory.
func (p *postfix) usage() (float64, int64) {
	master := p.masterPID()
	if master == 0 {
		return 0, 0
	}
	cpu, _ := procCPU(master, true)
	rss := procStatusKiB(master, "VmRSS:")
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == master {
			continue
		}
		if c, ppid := procCPU(pid, false); ppid == master {
			cpu += c
			rss += procStatusKiB(pid, "VmRSS:")
		}
	}
	return cpu, rss
}

func (p *postfix) current() int64 {
	_, rss := p.usage()
	return rss
}

// pids are the master and its children (qmgr, pickup... already
// running); strace -f follows the ones it starts.
func (p *postfix) pids() []int {
	master := p.masterPID()
	out := []int{master}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid != master {
			if _, ppid := procCPU(pid, false); ppid == master {
				out = append(out, pid)
			}
		}
	}
	return out
}

func (p *postfix) stop() {
	exec.Command("postfix", "-c", p.etc, "stop").Run()
	for deadline := time.Now().Add(20 * time.Second); p.masterPID() != 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err := syscall.Kill(p.masterPID(), 0); err != nil {
			return
		}
	}
}

// procCPU reads a process's CPU seconds (user+system, and its reaped
// children's with children) and its parent's PID from /proc.
func procCPU(pid int, children bool) (float64, int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// fields after the name: state ppid ... utime(12) stime(13) cutime(14) cstime(15)
	if len(f) < 15 {
		return 0, 0
	}
	ppid, _ := strconv.Atoi(f[1])
	var ticks float64
	last := 12
	if children {
		last = 14
	}
	for i := 11; i <= last; i++ {
		v, _ := strconv.ParseFloat(f[i], 64)
		ticks += v
	}
	return ticks / 100, ppid // USER_HZ is 100 on Linux
}

func procStatusKiB(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, key) {
			n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return n
		}
	}
	return 0
}
