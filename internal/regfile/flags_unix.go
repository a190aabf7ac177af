//go:build unix

package regfile

import "syscall"

// Nonblock is O_NONBLOCK where the system has it: an open of a FIFO
// returns at once.
const Nonblock = syscall.O_NONBLOCK
