//go:build !unix

package regfile

// Nonblock is O_NONBLOCK where the system has it: an open of a FIFO
// returns at once.
const Nonblock = 0
