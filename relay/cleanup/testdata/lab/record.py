#!/usr/bin/env python3
"""Run the postfix-lab's route cases and record, besides what lab.py records,
every transaction each sink received (envelope sender, recipients, header
lines) and every status line of Postfix's maillog (to=, orig_to=): the
cleanup goldens need the rewritten envelope and headers, which lab.py's
per-recipient summary does not keep.

A case may give "message": the text sent after DATA, with "{case}" (the case
id) and "{rcpts}" (the accepted recipients) replaced; it must keep an
"X-Oracle-Case: {case}" header. Without it the lab's own probe message is sent.
With "message", "hello" is the greeting command sent ("HELO x.test"; default
"EHLO inject.oracle.test"), and "before_mail" a list of commands sent after
it and before MAIL (XFORWARD...): their replies, and the greeting's, are
recorded as steps.

A sink may give "xforward": the attribute names it announces after the
XFORWARD EHLO keyword ("NAME ADDR PORT PROTO HELO IDENT SOURCE"); it then
answers each XFORWARD command with 250 and records the commands of each
transaction under "xforward" in its delivery.

Usage (as root):
  POSTFIX_LAB_CASES=relay/cleanup/testdata/lab \
    python3 relay/cleanup/testdata/lab/record.py run --mode route --save-logs --out /tmp/pf-cleanup
  python3 relay/cleanup/testdata/lab/record.py fill /tmp/pf-cleanup
  cp /tmp/pf-cleanup/route/*.json relay/cleanup/testdata/lab/golden/

"fill" replaces each case's "statuses" with every status line of its queue
ID in the saved maillog: lab.py stops waiting when each original recipient
has one status, and an alias's other recipients may be logged later.
"""
import os
import re
import sys
import threading
import time

LAB = os.environ.get("POSTFIX_LAB", "/work/shared/tools/postfix-lab")
sys.path.insert(0, LAB)
sys.path.insert(0, os.path.join(LAB, "lib"))
import lab  # noqa: E402
import sinks  # noqa: E402
from smtpprobe import Session  # noqa: E402

_tl = threading.local()
_cases = {}  # (config name, case id) -> case
_current = {"config": None}  # the configuration being run


class _Tap:
    """A reader in front of a sink's connection that keeps the DATA text
    and, for a sink that announces XFORWARD, answers and keeps the XFORWARD
    commands (the lab's sink does not know the command)."""

    def __init__(self, r, w=None):
        self.r, self.w, self.data = r, w, None

    def readline(self, *a):
        ln = self.r.readline(*a)
        s = ln.decode("utf-8", "replace").rstrip("\r\n")
        while self.w is not None and self.data is None and s.upper().startswith("XFORWARD"):
            _tl.xforward.append(s)
            self.w.write(b"250 2.0.0 Ok\r\n")
            self.w.flush()
            ln = self.r.readline(*a)
            s = ln.decode("utf-8", "replace").rstrip("\r\n")
        if self.data is not None:
            if s == ".":
                _tl.message, self.data = self.data, None
            else:
                self.data.append(s[1:] if s.startswith("..") else s)
        elif s.upper() == "DATA":
            self.data = []
        return ln

    def __getattr__(self, k):
        return getattr(self.r, k)


_setup = sinks._Handler.setup


class _XForwardEHLO:
    """A writer in front of a sink's connection that announces XFORWARD
    before the last line of its EHLO reply."""

    def __init__(self, w, attrs):
        self.w, self.attrs = w, attrs

    def write(self, b):
        if b == b"250 8BITMIME\r\n":
            self.w.write(("250-XFORWARD %s\r\n" % self.attrs).encode())
        return self.w.write(b)

    def __getattr__(self, k):
        return getattr(self.w, k)


def _tapped_setup(self):
    _setup(self)
    _tl.message, _tl.xforward = None, []
    attrs = self.server.cfg.get("xforward")
    if attrs:
        self.wfile = _XForwardEHLO(self.wfile, attrs)
        self.rfile = _Tap(self.rfile, self.wfile)
    else:
        self.rfile = _Tap(self.rfile)


sinks._Handler.setup = _tapped_setup
_add = sinks.Recorder.add


def _add_with_message(self, item):
    msg = getattr(_tl, "message", None) or []
    hdrs = []
    for ln in msg:
        if ln == "":
            break
        if ln[:1] in (" ", "\t") and hdrs:
            hdrs[-1] += "\n" + ln
        else:
            hdrs.append(ln)
    if getattr(_tl, "xforward", None):
        item["xforward"], _tl.xforward = _tl.xforward, []
    item["headers"] = hdrs
    item["body"] = msg[len("\n".join(hdrs).split("\n")) + 1:] if hdrs else msg
    _tl.message = None
    _add(self, item)


sinks.Recorder.add = _add_with_message
_load = lab.load_configs


def _load_configs(mode, only=None):
    cfgs = _load(mode, only)
    for c in cfgs:
        for case in c.get("cases", []):
            _cases[(c["name"], case["id"])] = case
    return cfgs


lab.load_configs = _load_configs


def _inject(listen, rcpts, case_id, client="127.0.0.1", mail="<>"):
    case = _cases.get((_current["config"], case_id.split("#")[0]), {})
    if "message" not in case:
        return _lab_inject(listen, rcpts, case_id, client, mail)
    host, port = listen.rsplit(":", 1)
    steps, accepted, qid = [], [], None
    s = Session(host, int(port), client)
    try:
        s.read_reply()
        r = s.command(case.get("hello", "EHLO inject.oracle.test"))
        if case.get("before_mail"):
            steps.append({"cmd": case.get("hello", "EHLO inject.oracle.test"), "code": r["code"], "enh": r["enh"], "text": r["text"]})
        for cmd in case.get("before_mail", []):
            r = s.command(cmd)
            steps.append({"cmd": cmd, "code": r["code"], "enh": r["enh"], "text": r["text"]})
        r = s.command("MAIL FROM:" + mail)
        steps.append({"cmd": "MAIL FROM:" + mail, "code": r["code"], "enh": r["enh"], "text": r["text"]})
        for rc in rcpts:
            r = s.command("RCPT TO:<%s>" % rc)
            steps.append({"cmd": "RCPT TO:<%s>" % rc, "code": r["code"], "enh": r["enh"], "text": r["text"]})
            if r["code"] // 100 == 2:
                accepted.append(rc)
        if accepted:
            r = s.command("DATA")
            if r["code"] == 354:
                r = s.send_data(case["message"].replace("{case}", case_id).replace("{rcpts}", ", ".join(accepted)))
            steps.append({"cmd": "DATA", "code": r["code"], "enh": r["enh"], "text": r["text"]})
            m = re.search(r"queued as ([0-9A-Za-z]+)", r["text"])
            if m:
                qid = m.group(1)
    finally:
        s.close()
    return steps, accepted, qid


_lab_inject = lab.inject
lab.inject = _inject
_result = lab.route_case_result


def _route_case_result(case, steps, accepted, sink_items, dns_items, statuses, impl_status=None):
    res = _result(case, steps, accepted, sink_items, dns_items, statuses, impl_status)
    res["deliveries"] = [dict({k: it.get(k) for k in ("sink", "mail_from", "rcpt", "headers", "body")},
                              **({"xforward": it["xforward"]} if "xforward" in it else {}))
                         for it in sink_items if it.get("completed")]
    res["statuses"] = statuses
    return res


lab.route_case_result = _route_case_result
_run_route_config = lab.run_route_config


def _run_route(cfg, *a, **kw):
    _current["config"] = cfg["name"]
    return _run_route_config(cfg, *a, **kw)


lab.run_route_config = _run_route


def fill(out):
    import glob
    import json
    for f in sorted(glob.glob(os.path.join(out, "route", "*.json"))):
        name = os.path.splitext(os.path.basename(f))[0]
        with open(os.path.join(out, "logs", name + ".maillog")) as fh:
            text = fh.read()
        with open(f) as fh:
            doc = json.load(fh)
        for c in doc["cases"]:
            if c.get("queue_id"):
                c["statuses"] = lab.parse_status_lines(text, c["queue_id"])
        with open(f, "w") as fh:
            json.dump(doc, fh, indent=1, ensure_ascii=False)
            fh.write("\n")
    return 0


def main():
    if sys.argv[1:2] == ["fill"]:
        return fill(sys.argv[2])
    if not lab.in_netns() and "--no-netns" not in sys.argv:
        wd = "/tmp/pfx-cleanup-%d" % os.getpid()
        return lab.reexec_in_netns([sys.executable, os.path.abspath(__file__)] + sys.argv[1:], wd)
    sys.argv = [os.path.join(LAB, "lab.py")] + sys.argv[1:]
    return lab.main()


if __name__ == "__main__":
    time.sleep(0)
    sys.exit(main())
