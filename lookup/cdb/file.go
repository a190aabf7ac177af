package cdb

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile builds the database at path the way postmap and `cdb -c` do:
// fill adds the records (through add, which is Writer.Add) to path+".tmp",
// which is then flushed to disk, renamed over path atomically, and the
// directory synced. Readers see the old file or the new one, never a part.
//
// perm is applied exactly, regardless of the umask (like `cdb -c -p`).
// On any error, including one returned by fill, the temporary file is
// removed and path is left untouched. An existing path+".tmp" is
// overwritten, as postmap does.
func WriteFile(path string, perm os.FileMode, fill func(add func(key, value []byte) error) error) (err error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if err != nil && !renamed {
			if f != nil {
				f.Close()
			}
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	w := NewWriter(f)
	if err := fill(w.Add); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("%s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	err = f.Close()
	f = nil
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	renamed = true
	// The new file is in place; only its durability is in question now.
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("%s written, but syncing its directory failed: %w", path, err)
	}
	return nil
}

// syncDir fsyncs a directory so that a rename in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
