package lookup

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/mxrelay/mxrelay/internal/regfile"

	"github.com/mxrelay/mxrelay/lookup/cdb"
)

// CDBTable is a cdb: table: cdb:PATH reads PATH.cdb, as made by
// "postmap cdb:PATH", tinycdb or Compile. Lookups fold the key (unless the
// table was opened with ParseOptions.NoFold) and, as Postfix's dict_cdb.c
// does (see TestCDBNulLockIn), try key+NUL first and then key, and keep
// using the first form that matched for as long as this version of the
// file is open. A trailing NUL is removed from values; an empty value is a
// Config error (ErrEmptyValue). A file replaced by a new one (a new inode,
// as postmap's rename makes) is picked up within the reload interval.
// Lookups of plain keys do not allocate.
type CDBTable struct {
	*reloader[*cdbFile]
	fold bool
}

type cdbFile struct {
	r *cdb.Reader
	// form is 0 until a lookup matched, then formNUL or formPlain.
	form atomic.Int32
}

const (
	formNUL   = 1
	formPlain = 2
)

func openCDB(_ context.Context, path string, o *OpenOptions) (Table, error) {
	spec := "cdb:" + path
	if path == "" {
		return nil, fmt.Errorf("cdb: needs a file name")
	}
	r, err := newReloader(spec, path+".cdb", o, func(p string) (*cdbFile, []Warning, error) {
		r, err := cdb.Open(p)
		if err != nil {
			return nil, nil, fmt.Errorf("open database %s: %w", p, err)
		}
		return &cdbFile{r: r}, nil, nil
	})
	if err != nil {
		return nil, err
	}
	return CDBTable{reloader: r, fold: !o.Parse.NoFold}, nil
}

// Lookup finds key in the current version of the file.
func (t CDBTable) Lookup(_ context.Context, key string) (string, bool, error) {
	f := t.get().v
	if !utf8.ValidString(key) {
		return "", false, nil // Postfix: "non-UTF-8 key", not found
	}
	if t.fold {
		key = FoldKey(key)
	}
	form := f.form.Load()
	var v string
	var ok bool
	var err error
	if form != formPlain {
		var buf [256]byte
		var kb []byte
		if len(key) < len(buf) {
			kb = buf[:0]
		}
		kb = append(append(kb, key...), 0)
		v, ok, err = f.r.FindBytes(kb)
		if ok && form == 0 {
			f.form.CompareAndSwap(0, formNUL)
		}
	}
	if !ok && err == nil && form != formNUL {
		v, ok, err = f.r.Find(key)
		if ok && form == 0 {
			f.form.CompareAndSwap(0, formPlain)
		}
	}
	if err != nil {
		return "", false, &Error{Table: t.spec, Key: key, Kind: Config, Err: err}
	}
	if !ok {
		return "", false, nil
	}
	v = strings.TrimSuffix(v, "\x00")
	if v == "" {
		return "", false, &Error{Table: t.spec, Key: key, Kind: Config, Err: ErrEmptyValue}
	}
	return checkValue(t.spec, key, v)
}

// All returns every entry in file order, trailing NULs removed. Unlike
// postmap, which cannot list a cdb table, mxmap -s uses this.
func (t CDBTable) All() ([]Entry, error) {
	var out []Entry
	f := t.get().v
	for k, v := range f.r.All() {
		out = append(out, Entry{Key: strings.TrimSuffix(k, "\x00"), Value: strings.TrimSuffix(v, "\x00")})
	}
	if err := f.r.Verify(); err != nil {
		return out, &Error{Table: t.spec, Kind: Config, Err: err}
	}
	return out, nil
}

// CompileOptions controls Compile, as postmap's flags do.
type CompileOptions struct {
	ParseOptions
	// AppendNUL stores keys and values with a trailing NUL (postmap -N).
	// Default: without, as postmap cdb: does (postmap(1) -N and -n).
	AppendNUL bool
}

// Compile reads the postmap source file src and writes src.cdb, byte for
// byte what "postmap cdb:src" writes for the same source and flags: keys
// folded (FoldKey), the first of duplicate keys kept, records in source
// order. As postmap, -w (QuietDuplicates) writes every duplicate (readers
// find the first) and -r (LastWins) keeps the last record where it
// stands. The file is written to src.cdb.tmp, synced and renamed, so
// readers never see a partial table; the new file copies the source's
// read permissions. It returns postmap's warnings.
func Compile(src string, o CompileOptions) ([]Warning, error) {
	f, err := regfile.Open(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	po := o.ParseOptions
	if po.DuplicateFile == "" {
		po.DuplicateFile = src
	}
	entries, warnings, err := parseText(f, src, po, true)
	if err != nil {
		return warnings, err
	}
	perm := fi.Mode().Perm()&0o444 | 0o200
	err = cdb.WriteFile(src+".cdb", perm, func(add func(k, v []byte) error) error {
		var kb, vb []byte
		for _, e := range entries {
			kb = append(kb[:0], e.Key...)
			vb = append(vb[:0], e.Value...)
			if o.AppendNUL {
				kb, vb = append(kb, 0), append(vb, 0)
			}
			if err := add(kb, vb); err != nil {
				return err
			}
		}
		return nil
	})
	return warnings, err
}
