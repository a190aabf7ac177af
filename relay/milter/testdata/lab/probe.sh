#!/bin/sh
# Sends the cases of route/opendkim.json through mxrelayd, with the same
# opendkim as record.sh, in the lab's namespace, and compares the header
# fields delivered with Postfix's (golden/opendkim.json): only Received:,
# the signature's t= and b= may differ. Run from the repository's root,
# as root, with opendkim installed:
#   sh relay/milter/testdata/lab/probe.sh
set -eu
dir=relay/milter/testdata
work=$(mktemp -d)
go build -o "$work/mxrelayd" ./examples/mxrelayd
mkdir -p /run/mxrelay-lab
cp $dir/opendkim/lab.private "$work/"
sed "s#{dir}#$work#; s#{socket}#local:/run/mxrelay-lab/opendkim.sock#" $dir/opendkim/opendkim.conf.in > "$work/opendkim.conf"
opendkim -x "$work/opendkim.conf" -f &
pid=$!
trap 'kill $pid; rm -rf "$work"' EXIT
sleep 1
POSTFIX_LAB_CASES=$dir/lab python3 relay/cleanup/testdata/lab/record.py probe --mode route --out "$work/ours" \
	--impl-cmd "$work/mxrelayd -config {confdir}/main.cf -listen {listen} -dns {dns} -status-log {statusfile} -queue {confdir}/../q"
python3 - "$dir/lab/golden/opendkim.json" "$work/ours/route/opendkim.json" <<'PY'
import json, re, sys
def norm(h):
    out = []
    for f in h:
        if f.startswith("Received:"):
            f = "Received: ..."
        f = re.sub(r"t=\d+;", "t=...;", f)
        f = re.sub(r"(?s)\bb=[A-Za-z0-9+/=\s]+$", "b=...", f)
        out.append(f)
    return out
g, o = (json.load(open(p)) for p in sys.argv[1:3])
bad = 0
for gc, oc in zip(g["cases"], o["cases"]):
    gd, od = gc["deliveries"][0], oc["deliveries"][0]
    same = norm(gd["headers"]) == norm(od["headers"]) and gd["body"] == od["body"]
    print(gc["id"], "same as Postfix" if same else "DIFFERENT:\n" + "\n".join(od["headers"]))
    bad += not same
sys.exit(1 if bad else 0)
PY
