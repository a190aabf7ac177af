#!/bin/sh
# Regenerates the *.golden files from the real postmap (Postfix 3.7):
# for each table source and its .keys file, "key<TAB>value" for hits and
# "key<TAB>" + "(not found)" for misses. Run from this directory.
# lookup's TestPostmapGolden checks our tables against these files, and
# under CI also checks that they still match the installed postmap.
set -eu
conf=$(mktemp -d); trap 'rm -rf "$conf"' EXIT
printf 'compatibility_level = 3.6\n' > "$conf/main.cf"
export MAIL_CONFIG="$conf"
q() { # q TABLE KEYSFILE
	while IFS= read -r k; do
		if v=$(postmap -q "$k" "$1" 2>/dev/null); then printf '%s\t%s\n' "$k" "$v"; else printf '%s\t(not found)\n' "$k"; fi
	done < "$2"
}
q regexp:re.regexp re.keys > re.golden
q regexp:edge.regexp edge.keys > edge.golden
q cidr:nets.cidr nets.keys > nets.golden
q cidr:edge.cidr edge.cidr.keys > edge.cidr.golden
postmap -q zz cidr:edge.cidr 2> edge.cidr.warnings || true
cp src.hash "$conf/src"
postmap hash:"$conf/src" 2>/dev/null
q hash:"$conf/src" src.keys > src.golden
postmap lmdb:"$conf/src" 2>/dev/null
q lmdb:"$conf/src" src.keys > src.lmdb.golden
postmap btree:"$conf/src" 2>/dev/null
q btree:"$conf/src" src.keys > src.btree.golden
postmap cdb:"$conf/src" 2>/dev/null
q cdb:"$conf/src" src.keys > src.cdb.golden
printf 'Key\nk2\nK3\nmissing\n' > inline.keys
q 'inline:{ key=value, { k2 = text with spaces }, K3=upper }' inline.keys > inline.golden
postmap -q zz regexp:edge.regexp 2> edge.warnings || true
q 'inline:{ A=1, a=2, =y, {b = x, y} }' inline2.keys > inline2.golden
q regexp:subst.regexp subst.keys > subst.golden
q regexp:empty.regexp empty.keys > empty.golden
q pcre:pat.pcre pat.keys > pat.golden
postmap -q zz pcre:pat.pcre > /dev/null 2> pat.warnings || true
q pcre:edge.pcre edge.pcre.keys > edge.pcre.golden
postmap -q zz pcre:edge.pcre > /dev/null 2> edge.pcre.warnings || true
