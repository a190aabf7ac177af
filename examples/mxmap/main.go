// Command mxmap is a postmap-like tool built on mxrelay's lookup package.
// It compiles cdb tables byte for byte as "postmap cdb:" does, checks
// hash: sources, and queries any table type lookup.Open knows: hash:,
// btree:, lmdb:, dbm: and texthash: (from their source files), cdb:,
// cidr:, regexp:, pcre:, inline:, static:, unix:, socketmap:, tcp: and
// proxy:TYPE:NAME. The database types (pgsql:, mysql:, sqlite:) live in
// nested modules, so that this module never builds their drivers; the
// mxmap that knows them too is examples/mxmap/all, a module of its own:
//
//	cd examples/mxmap/all && go run . -q bob@example.com pgsql:/etc/postfix/pgsql-users.cf
//
//	mxmap cdb:FILE              compile FILE into FILE.cdb (FILE.cdb.tmp, then rename)
//	mxmap hash:FILE             check FILE as a source and print its warnings
//	mxmap -q KEY type:name      print the value (exit 0), or nothing (exit 1)
//	mxmap -q - type:name        read keys from stdin, print "key<TAB>value" for hits
//	                            (a key is its line without the '\n', a '\r' included, as postmap)
//	mxmap -s type:name          list every entry, "key<TAB>value"
//
// Flags as postmap: -N (keys and values with a trailing NUL), -n (without;
// the default for cdb:), -f (do not fold keys to lower case), -r (the last
// of duplicate keys wins), -w (no duplicate-key warnings; for cdb: every
// duplicate is written, as postmap does). A FILE without a type is hash:,
// Debian's default_database_type. Warnings use postmap's wording.
//
// Differences from postmap: hash: sources are never written to Berkeley DB
// files (mxrelay reads the source itself); -s works on cdb: tables too; a
// table that fails (as opposed to a key that is missing) exits 2, not 1;
// -q and -s print the warnings of a hash: source (postmap printed them when
// it built the .db); a key read by "-q -" longer than 1 MiB is an error; a non-UTF-8 key is
// not found, without postmap's "non-UTF-8 key" warning.
package main

import (
	"context"
	"io"
	"os"

	"github.com/mxrelay/mxrelay/examples/mxmap/internal/mapcmd"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is mxmap with lookup's built-in table types.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return mapcmd.Run(ctx, args, stdin, stdout, stderr, nil)
}
