#!/bin/sh
# Regenerates the "answers" files with real Postfix (trivial-rewrite -S via
# resolve.py). Needs postfix installed; run from this directory:
#   sh generate.sh /work/shared/tools/postfix/resolve.py
set -e
resolve=${1:?path to resolve.py}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for conf in */; do
	conf=${conf%/}
	dir=$scratch/$conf
	mkdir -p "$dir/q" "$dir/d"
	cp "$conf"/* "$dir/"
	cp /usr/share/postfix/master.cf.dist "$dir/master.cf"
	sed -i "s|@DIR@|$dir|g" "$dir/main.cf"
	printf 'compatibility_level = 3.6\ninet_interfaces = loopback-only\ninet_protocols = ipv4\nqueue_directory = %s/q\ndata_directory = %s/d\n' "$dir" "$dir" >> "$dir/main.cf"
	xargs -d '\n' python3 "$resolve" "$dir" < "$conf/addresses" | sed 's/  */ /g' > "$conf/answers"
done
