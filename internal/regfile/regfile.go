// Package regfile opens files that must be regular files: table sources
// and databases (lookup), queue files (queue). A FIFO, device or socket put where a table file belongs
// would block an ordinary open or read forever (a FIFO until a writer
// comes); these functions refuse such files at once instead.
package regfile

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrNotRegular is wrapped by the errors of Open and ReadFile for a path
// that names something other than a regular file.
var ErrNotRegular = errors.New("not a regular file")

// Open opens path for reading if it is a regular file (after following
// symbolic links). It checks the path before opening, so that a device is
// never opened, opens without blocking (O_NONBLOCK where the system has
// it), and checks the opened descriptor again, so that a file swapped in
// between the two is refused as well.
func Open(path string) (*os.File, error) { return open(path, os.Stat) }

// OpenNoFollow is Open for a path that must itself be a regular file: a
// symbolic link is refused, not followed (queue files).
func OpenNoFollow(path string) (*os.File, error) { return open(path, os.Lstat) }

func open(path string, stat func(string) (os.FileInfo, error)) (*os.File, error) {
	fi, err := stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|Nonblock, 0)
	if err != nil {
		return nil, err
	}
	fi, err = f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(path, fi.Mode())
	}
	return f, nil
}

// ReadFile reads the whole of path as os.ReadFile does, refusing what is
// not a regular file as Open does.
func ReadFile(path string) ([]byte, error) { return readAll(Open(path)) }

// ReadFileNoFollow reads the whole of path, refusing what is not a
// regular file as OpenNoFollow does.
func ReadFileNoFollow(path string) ([]byte, error) { return readAll(OpenNoFollow(path)) }

func readAll(f *os.File, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func notRegular(path string, m os.FileMode) error {
	return &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, Kind(m))}
}

// Kind names the type of a file that is not regular: "a FIFO", "a
// socket", "a symbolic link"...
func Kind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	}
	return "type " + m.Type().String()
}
