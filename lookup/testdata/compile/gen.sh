#!/bin/sh
# Regenerates the .cdb files here with the real "postmap cdb:" (Postfix 3.7).
# TestCompileMatchesPostmap checks that lookup.Compile writes the same bytes.
set -eu
conf=$(mktemp -d); trap 'rm -rf "$conf"' EXIT
printf 'compatibility_level = 3.6\n' > "$conf/main.cf"
export MAIL_CONFIG="$conf"
postmap cdb:sample 2>/dev/null; postmap cdb:empty; postmap cdb:dups 2>/dev/null
postmap -r cdb:dups-r; postmap -w cdb:dups-w; postmap -f cdb:dups-f 2>/dev/null
postmap -N cdb:nul; postmap cdb:many
# spaces: lines starting with VT, FF or CR continue the previous line (ISSPACE).
postmap cdb:spaces
# tricky: CRLF, tabs, NUL bytes, non-UTF-8 keys and values, Unicode case
# forms, quoted and case-only duplicates, a 70000-byte line. Its warnings
# (path shown as "tricky") are the golden tricky.warnings.
postmap cdb:tricky 2> tricky.warnings
# unicode: every cased code point up to U+1FFFF doubled in a key ("kAA v1"):
# Compile's Unicode case folding must give postmap's bytes (and duplicates).
postmap cdb:unicode 2>/dev/null
