package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// syncTrace counts fsync(2) and fdatasync(2) calls of running processes
// and their future children with strace -c.
type syncTrace struct {
	cmd  *exec.Cmd
	path string
}

func startSyncTrace(pids []int, path string) (*syncTrace, error) {
	args := []string{"-f", "-c", "-e", "trace=fsync,fdatasync", "-o", path}
	for _, p := range pids {
		args = append(args, "-p", strconv.Itoa(p))
	}
	cmd := exec.Command("strace", args...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("strace (apt-get install strace): %w", err)
	}
	time.Sleep(500 * time.Millisecond) // attached
	return &syncTrace{cmd: cmd, path: path}, nil
}

// stop detaches and returns the number of calls counted.
func (t *syncTrace) stop() (int64, error) {
	t.cmd.Process.Signal(syscall.SIGINT)
	t.cmd.Wait()
	f, err := os.Open(t.path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "% time seconds usecs/call calls errors syscall"
		fs := strings.Fields(sc.Text())
		if len(fs) >= 5 && (fs[len(fs)-1] == "fsync" || fs[len(fs)-1] == "fdatasync") {
			c, _ := strconv.ParseInt(fs[3], 10, 64)
			n += c
		}
	}
	return n, sc.Err()
}
