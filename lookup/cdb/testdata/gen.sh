#!/bin/sh
# Regenerates the golden fixtures in this directory with the REAL tools:
# tinycdb's `cdb -c` and Postfix's `postmap cdb:` (Debian: apt-get install
# tinycdb postfix postfix-cdb). Run from this directory: sh gen.sh
#
# For every fixture NAME:
#   NAME.cdb      the database the real tool wrote (tests compare our Writer's
#                 output with it byte for byte, and read it with our Reader);
#   NAME.records  its records in file order, in cdb's native format
#                 (+klen,vlen:key->value\n ... \n): for `cdb -c` fixtures this
#                 is the tool's input, for postmap fixtures it is `cdb -d`;
#   NAME.src      for postmap fixtures, the postmap source file.
set -eu
export LC_ALL=C
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A private Postfix configuration. compatibility_level matters: below 1,
# smtputf8_enable defaults to "no" and postmap folds ASCII only.
mkdir "$tmp/conf"
echo 'compatibility_level = 3.6' > "$tmp/conf/main.cf"

# cdbc NAME: build NAME.cdb from NAME.records with `cdb -c`, and check that
# `cdb -d` gives the records back unchanged (so .records is also the dump).
cdbc() {
	cdb -c "$1.cdb" < "$1.records"
	cdb -d "$1.cdb" > "$tmp/dump"
	cmp "$tmp/dump" "$1.records"
}

# pmap NAME [postmap options]: build NAME.cdb from NAME.src with postmap.
pmap() {
	n=$1; shift
	cp "$n.src" "$tmp/$n"
	postmap -c "$tmp/conf" "$@" "cdb:$tmp/$n" 2> "$tmp/warnings" || { cat "$tmp/warnings"; exit 1; }
	cp "$tmp/$n.cdb" "$n.cdb"
	cdb -d "$n.cdb" > "$n.records"
}

# --- cdb -c fixtures -------------------------------------------------------
printf '\n' > empty.records
cdbc empty

printf '+3,5:key->value\n\n' > one.records
cdbc one

# Duplicates: `cdb -c` (no -u/-r/-e) keeps every record.
printf '+1,5:a->first\n+1,1:b->x\n+1,6:a->second\n+1,5:a->third\n+1,0:c->\n\n' > dups.records
cdbc dups

# Arbitrary bytes: NUL, newline, "->" and ":" inside keys and values, an
# empty key, an empty value, bytes >= 0x80.
printf '+0,9:->empty key\n+3,3:k1\000->v1\000\n+5,5:a\nb\nc->x\ny\nz\n+4,4:->->->:,+-\n+3,0:nov->\n+2,2:\377\376->\200\201\n\n' > binary.records
cdbc binary

# The mixed NUL/no-NUL table of TestCDBNulLockIn (dict_cdb.c keeps the
# first form that matches).
printf '+3,3:k1\000->v1\000\n+2,2:k2->v2\n+2,2:k1->XX\n\n' > mixed.records
cdbc mixed

# 3000 records: ~12 per bucket, so slot collisions and wrap-around probing.
awk 'BEGIN { for (i = 0; i < 3000; i++) { k = sprintf("user%d@example.com", i); v = sprintf("relay:[mx%d.example.net]", i % 97); printf "+%d,%d:%s->%s\n", length(k), length(v), k, v }; printf "\n" }' > many.records
cdbc many

# --- postmap fixtures ------------------------------------------------------
# The worked example of TestWorkedExample (duplicate "b" suppressed, first wins).
printf 'Foo@Example.COM  Value1\nb  2\nb 3\nexample.com  OK\n' > c.src
pmap c

: > pmempty.src
pmap pmempty

# postmap -N: key and value both stored with a trailing NUL.
printf 'k1 v1\nUser@Example.COM relay:[mx.example.net]\n' > nul.src
pmap nul -N

# Unicode keys, folded to lower case by postmap (smtputf8_enable=yes).
printf 'KÉY value-é\nÜBER@Bücher.Example OK\n日本.example relay:[mx.日本.example]\nΣΊΣΥΦΟΣ@example.com greek\n' > unicode.src
pmap unicode
