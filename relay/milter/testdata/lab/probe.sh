#!/bin/sh
# Sends the cases of route/opendkim.json and route/edits.json through
# mxrelayd, with the same milters as record.sh (opendkim, editmilter), in
# the lab's namespace, and compares the envelopes and messages delivered
# with Postfix's (golden/): only the MTA's own Received: field, the
# signature's t= and b= may differ. Run from the repository's root,
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
go build -o "$work/editmilter" ./$dir/lab/editmilter
"$work/editmilter" -socket /run/mxrelay-lab/edit.sock -script $dir/lab/edits.json &
pid2=$!
trap 'kill $pid $pid2; rm -rf "$work"' EXIT
sleep 1
POSTFIX_LAB_CASES=$dir/lab python3 relay/cleanup/testdata/lab/record.py probe --mode route --out "$work/ours" \
	--impl-cmd "$work/mxrelayd -config {confdir}/main.cf -listen {listen} -dns {dns} -status-log {statusfile} -queue {confdir}/../q"
python3 - "$dir/lab/golden" "$work/ours/route" <<'PY'
import json, os, re, sys
def norm(h):
    out = []
    for f in h:
        if f.startswith("Received:") and re.search(r"\bby mx2\.oracle\.test ", f):
            f = "Received: (the MTA's own)"
        f = re.sub(r"t=\d+;", "t=...;", f)
        f = re.sub(r"(?s)\bb=[A-Za-z0-9+/=\s]+$", "b=...", f)
        out.append(f)
    return out
bad = 0
for name in ("opendkim", "edits"):
    g, o = (json.load(open(os.path.join(d, name + ".json"))) for d in sys.argv[1:3])
    for gc, oc in zip(g["cases"], o["cases"]):
        gd, od = gc["deliveries"][0], oc["deliveries"][0]
        same = (norm(gd["headers"]) == norm(od["headers"]) and gd["body"] == od["body"]
                and gd["mail_from"] == od["mail_from"] and gd["rcpt"] == od["rcpt"])
        print(name, gc["id"], "same as Postfix" if same else "DIFFERENT:\n" + json.dumps(od, indent=1))
        bad += not same
sys.exit(1 if bad else 0)
PY
