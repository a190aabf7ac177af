// Package mapcmd is mxmap, the postmap-like tool of examples/mxmap, as a
// function: examples/mxmap runs it with lookup's built-in table types,
// examples/mxmap/all with the database types of the nested modules too.
package mapcmd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mxrelay/mxrelay/lookup"
)

// maxKeyLine caps one key read by "-q -".
const maxKeyLine = 1 << 20

// scanLines splits at '\n' only: unlike bufio.ScanLines it keeps a '\r',
// which postmap -q - looks up as part of the key.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// lister is what -s needs from a table.
type lister interface {
	All() ([]lookup.Entry, error)
}

// Run runs mxmap with args (without the program name) and returns its
// exit status. types are the table types the program links in beyond
// lookup's built-ins (lookup.OpenOptions.Types): the database types of
// the nested modules, for the mxmap of examples/mxmap/all.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, types map[string]lookup.OpenFunc) int {
	fs := flag.NewFlagSet("mxmap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var query string
	queried := false // -q "" looks up the empty key, as postmap does
	fs.Func("q", "look up `key` (\"-\": read keys from stdin) and print the value", func(k string) error {
		query, queried = k, true
		return nil
	})
	list := fs.Bool("s", false, "list all entries")
	withNUL := fs.Bool("N", false, "store keys and values with a trailing NUL")
	fs.Bool("n", false, "store keys and values without a trailing NUL (the default)")
	noFold := fs.Bool("f", false, "do not fold keys to lower case")
	lastWins := fs.Bool("r", false, "the last of duplicate keys wins")
	quiet := fs.Bool("w", false, "do not warn about duplicate keys")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mxmap [-Nnfrw] [-q key | -s] [type:]file ...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	parse := lookup.ParseOptions{NoFold: *noFold, LastWins: *lastWins, QuietDuplicates: *quiet}
	fatal := func(err error) int {
		fmt.Fprintf(stderr, "mxmap: fatal: %v\n", err)
		return 1
	}
	warn := func(ws []lookup.Warning) {
		for _, w := range ws {
			fmt.Fprintf(stderr, "mxmap: warning: %s\n", w)
		}
	}
	specs := fs.Args()
	for i, s := range specs {
		if !strings.Contains(s, ":") {
			specs[i] = "hash:" + s
		}
	}
	opts := &lookup.OpenOptions{Parse: parse, ReloadInterval: -1, Types: types}
	// open opens a table to query or list and prints the warnings of its
	// source (regexp:, cidr:, and hash: sources, which postmap would have
	// reported when it built the .db), as postmap prints them.
	var opened []lookup.Table
	defer func() {
		for _, t := range opened {
			lookup.Close(t) // the connections of network and database tables
		}
	}()
	open := func(spec string) (lookup.Table, error) {
		t, err := lookup.Open(ctx, spec, opts)
		if err == nil {
			opened = append(opened, t)
		}
		if w, ok := t.(lookup.Warner); ok && err == nil {
			warn(w.Warnings())
		}
		return t, err
	}

	switch {
	case queried:
		tables := make([]lookup.Table, 0, len(specs))
		for _, s := range specs {
			t, err := open(s)
			if err != nil {
				return fatal(err)
			}
			tables = append(tables, t)
		}
		find := func(key string) (string, bool, error) {
			r, ok, err := lookup.Search(ctx, tables, []lookup.Key{{Key: key, Kind: lookup.KeyAddress}})
			return r.Value, ok, err
		}
		if query != "-" {
			v, ok, err := find(query)
			if err != nil {
				fmt.Fprintf(stderr, "mxmap: fatal: %v\n", err)
				return 2
			}
			if !ok {
				return 1
			}
			fmt.Fprintln(stdout, v)
			return 0
		}
		hits := 0
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64*1024), maxKeyLine)
		sc.Split(scanLines)
		// Answers are buffered, as postmap's stdout is (one write per
		// answer cost more than the lookups), and flushed before a
		// fatal error is reported and at the end.
		out := bufio.NewWriterSize(stdout, 64<<10)
		for sc.Scan() {
			key := sc.Text()
			v, ok, err := find(key)
			if err != nil {
				out.Flush()
				fmt.Fprintf(stderr, "mxmap: fatal: %v\n", err)
				return 2
			}
			if ok {
				hits++
				out.WriteString(key)
				out.WriteByte('\t')
				out.WriteString(v)
				out.WriteByte('\n')
			}
		}
		if err := out.Flush(); err != nil {
			return fatal(err)
		}
		if err := sc.Err(); err != nil {
			return fatal(err)
		}
		if hits == 0 {
			return 1
		}
		return 0

	case *list:
		for _, s := range specs {
			t, err := open(s)
			if err != nil {
				return fatal(err)
			}
			var entries []lookup.Entry
			switch l := t.(type) {
			case lister:
				entries, err = l.All()
			case *lookup.Map: // inline:, as postmap -s lists it
				entries = l.All()
			default:
				return fatal(fmt.Errorf("table %s: sequence operation is not supported", s))
			}
			for _, e := range entries {
				fmt.Fprintf(stdout, "%s\t%s\n", e.Key, e.Value)
			}
			if err != nil {
				fmt.Fprintf(stderr, "mxmap: fatal: %v\n", err)
				return 2
			}
		}
		return 0
	}

	// Build (cdb:) or check (hash:, texthash:) each source.
	for _, s := range specs {
		typ, name, err := lookup.ParseSpec(s)
		if err != nil {
			return fatal(err)
		}
		switch typ {
		case "cdb":
			ws, err := lookup.Compile(name, lookup.CompileOptions{ParseOptions: parse, AppendNUL: *withNUL})
			warn(ws)
			if err != nil {
				return fatal(fmt.Errorf("open %s: %w", name, err))
			}
		case "hash", "texthash":
			f, err := os.Open(name)
			if err != nil {
				return fatal(fmt.Errorf("open %s: %w", name, errors.Unwrap(err)))
			}
			p := parse
			p.DuplicateFile = name + ".db"
			_, ws, err := lookup.ParseText(f, name, p)
			f.Close()
			warn(ws)
			if err != nil {
				return fatal(err)
			}
		default:
			return fatal(fmt.Errorf("unsupported map type for this operation: %s", typ))
		}
	}
	return 0
}
