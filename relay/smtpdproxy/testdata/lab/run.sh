#!/bin/sh
# Records Postfix 3.7's answers with smtpd_proxy_filter pointing at a lab
# sink (golden/), then sends the same cases to mxrelayd in the lab and
# compares. Needs root and the postfix-lab (../shared/tools/postfix-lab).
# Run from the repository root: sh relay/smtpdproxy/testdata/lab/run.sh
set -eu
lab=${POSTFIX_LAB:-../shared/tools/postfix-lab/lab.py}
work=$(mktemp -d)
export POSTFIX_LAB_CASES="$PWD/relay/smtpdproxy/testdata/lab"
python3 "$lab" run --save-logs --out "$work/postfix"
for f in "$work"/postfix/route/*.json; do
	n=$(basename "$f" .json)
	cp "$f" relay/smtpdproxy/testdata/lab/golden/"$n".json
	grep -v 'master\[' "$work/postfix/logs/$n.maillog" > relay/smtpdproxy/testdata/lab/golden/"$n".maillog
done
go build -o "$work/mxrelayd" ./examples/mxrelayd
python3 "$lab" probe --out "$work/mxrelayd-out" \
	--impl-cmd "$work/mxrelayd -config {confdir}/main.cf -listen {listen} -dns {dns} -status-log {statusfile} -queue {confdir}/../q"
python3 "$lab" compare "$work/postfix" "$work/mxrelayd-out"
