#!/bin/sh
# Records what Postfix 3.7 does with opendkim as its milter
# (route/opendkim.json), with the cleanup stage's recorder
# (relay/cleanup/testdata/lab/record.py, which keeps the delivered
# headers), what it does with the scripted milter of edits.json (every
# modification, route/edits.json, served by editmilter), and its replies
# with a milter where nothing listens under each milter_default_action
# (rcpt/milterdead_*.json). Run from the repository's root, as root, with opendkim
# installed (apt-get install -y opendkim):
#   sh relay/milter/testdata/lab/record.sh
# The goldens go to relay/milter/testdata/lab/golden/.
set -eu
dir=relay/milter/testdata
work=$(mktemp -d)
mkdir -p /run/mxrelay-lab
cp $dir/opendkim/lab.private "$work/"
sed "s#{dir}#$work#; s#{socket}#local:/run/mxrelay-lab/opendkim.sock#" $dir/opendkim/opendkim.conf.in > "$work/opendkim.conf"
opendkim -x "$work/opendkim.conf" -f &
pid=$!
go build -o "$work/editmilter" ./$dir/lab/editmilter
"$work/editmilter" -socket /run/mxrelay-lab/edit.sock -script $dir/lab/edits.json &
pid2=$!
trap 'kill $pid $pid2; rm -rf "$work"' EXIT
sleep 1
POSTFIX_LAB_CASES=$dir/lab python3 relay/cleanup/testdata/lab/record.py run --mode route --save-logs --out "$work/out"
python3 relay/cleanup/testdata/lab/record.py fill "$work/out"
mkdir -p $dir/lab/golden
cp "$work/out/route/opendkim.json" "$work/out/route/edits.json" $dir/lab/golden/
cp "$work/out/logs/opendkim.maillog" $dir/lab/golden/ 2>/dev/null || true
POSTFIX_LAB_CASES=$dir/lab python3 relay/cleanup/testdata/lab/record.py run --mode rcpt --out "$work/rcpt"
cp "$work"/rcpt/rcpt/milterdead_*.json $dir/lab/golden/
