#!/usr/bin/env python3
"""Record golden SMTP sessions from a real Postfix 3.7 smtpd.

Run as root:  python3 record.py [--only GROUP ...] [--check] [--keep]

For every group defined in cases.py (one JSON file per group in this
directory) it writes a private Postfix instance (base parameters below plus
the group's main_cf and maps), starts it inside a private network namespace
(own loopback; /etc/resolv.conf bind-mounted to a loopback address where no
DNS server listens, so nothing ever reaches the machine's DNS), plays every
session of the group against 127.0.0.1:25 from the session's client address,
and writes GROUP.json with every reply line Postfix sent.

A step is one write (the exact bytes) followed by reading until the server
has been quiet for QUIET seconds after a complete reply (or has closed the
connection); a {"tls_handshake": true} step performs the TLS handshake on the
connection instead of writing.

--check records into a scratch directory and compares with the committed
files (exit status 1 on a difference) without rewriting them.
"""

import argparse
import base64
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import cases  # noqa: E402  (the session definitions)

POSTFIX = "/usr/sbin/postfix"
POSTMAP = "/usr/sbin/postmap"
LISTEN = ("127.0.0.1", 25)
NO_DNS = "127.0.0.53"  # inside the namespace: nothing listens there
FIRST_TIMEOUT = 5.0    # wait this long for the first byte of a reply
QUIET = 0.5            # after a complete reply, wait this long for more
PARALLEL = 8           # sessions played at the same time

# Parameters the engine under test must share with the recorded Postfix.
BASE_MAIN_CF = {
    "compatibility_level": "3.6",
    "myhostname": "mx2.oracle.test",
    "mydomain": "oracle.test",
    "myorigin": "$myhostname",
    "mydestination": "",
    "inet_interfaces": "127.0.0.1",
    "inet_protocols": "ipv4",
    "mynetworks": "127.0.0.1/32",
    "alias_maps": "",
    "smtpd_banner": "$myhostname ESMTP",
}

# Parameters that only make the private instance self-contained.
INSTANCE_MAIN_CF = {
    "queue_directory": "{base}/spool",
    "data_directory": "{base}/data",
    "mail_owner": "postfix",
    "setgid_group": "postdrop",
    "maillog_file_prefixes": "{base}",
    "maillog_file": "{base}/maillog",
    "syslog_name": "postfix-golden",
    "alias_database": "",
    "biff": "no",
    "notify_classes": "",
    "readme_directory": "no",
    "html_directory": "no",
    "smtp_tls_security_level": "",
    "delay_warning_time": "0",
    # The recorded mail must stay in the queue: nothing is delivered.
    "defer_transports": "smtp relay",
}

MASTER_CF = """\
127.0.0.1:25 inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAP_RE = re.compile(r"\b(hash|btree|cdb|lmdb):\{confdir\}/([A-Za-z0-9_.-]+)")
QUEUED_RE = re.compile(r"(queued as )([0-9A-Za-z]+)")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# network namespace
# ---------------------------------------------------------------------------

def reexec_in_netns(argv, work):
    ns = "mxgolden-%d" % os.getpid()
    os.makedirs(work, exist_ok=True)
    resolv = os.path.join(work, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver %s\noptions timeout:1 attempts:1\n" % NO_DNS)
    r = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
    if r.returncode != 0:
        log("ip netns add: %s" % r.stderr.strip())
        return 2
    inner = "mount --bind %s /etc/resolv.conf && ip link set lo up && exec %s" % (
        shlex.quote(resolv), " ".join(shlex.quote(a) for a in argv))
    env = dict(os.environ, MXGOLDEN_NETNS=ns, MXGOLDEN_WORK=work)
    proc = None
    try:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, "unshare", "--mount",
                                 "--propagation", "private", "sh", "-c", inner], env=env)
        return proc.wait()
    except KeyboardInterrupt:
        if proc:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        return 130
    finally:
        # end whatever is left in our own namespace, by pid, then delete it
        for sig, pause in ((signal.SIGTERM, 2), (signal.SIGKILL, 1)):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                  text=True).stdout.split()
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(int(p), sig)
                except (ProcessLookupError, ValueError):
                    pass
            time.sleep(pause)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


# ---------------------------------------------------------------------------
# private Postfix instance
# ---------------------------------------------------------------------------

class Instance:
    def __init__(self, base, group):
        self.base = base
        self.etc = os.path.join(base, "etc")
        self.group = group

    def write(self):
        if os.path.exists(self.base):
            shutil.rmtree(self.base)
        for d in (self.etc, os.path.join(self.base, "spool"), os.path.join(self.base, "data")):
            os.makedirs(d)
        os.chmod(self.base, 0o755)
        pw = pwd.getpwnam("postfix")
        os.chown(os.path.join(self.base, "data"), pw.pw_uid, pw.pw_gid)
        os.chmod(os.path.join(self.base, "data"), 0o700)
        params = dict(BASE_MAIN_CF)
        params.update({k: v.replace("{base}", self.base) for k, v in INSTANCE_MAIN_CF.items()})
        params.update(self.group.get("main_cf", {}))
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            for k, v in params.items():
                f.write("%s = %s\n" % (k, v.replace("{confdir}", self.etc)))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(MASTER_CF)
        for name, text in self.group.get("maps", {}).items():
            with open(os.path.join(self.etc, name), "w") as f:
                f.write(text)
        for name, rel in self.group.get("files", {}).items():
            dst = os.path.join(self.etc, name)
            shutil.copyfile(os.path.join(HERE, rel), dst)
            os.chmod(dst, 0o600)
        for v in self.group.get("main_cf", {}).values():
            for typ, name in MAP_RE.findall(v):
                subprocess.run([POSTMAP, "-c", self.etc, "%s:%s" % (typ, os.path.join(self.etc, name))],
                               check=True)

    def start(self):
        if port_open():
            raise RuntimeError("something already listens on %s:%d" % LISTEN)
        r = subprocess.run([POSTFIX, "-c", self.etc, "start"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("postfix start: %s%s" % (r.stdout, r.stderr))
        deadline = time.time() + 20
        while not port_open():
            if time.time() > deadline:
                raise RuntimeError("smtpd did not come up")
            time.sleep(0.1)

    def master_pid(self):
        try:
            with open(os.path.join(self.base, "spool", "pid", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        pid = self.master_pid()
        subprocess.run([POSTFIX, "-c", self.etc, "stop"], capture_output=True)
        deadline = time.time() + 20
        while pid and alive(pid) and time.time() < deadline:
            time.sleep(0.1)
        deadline = time.time() + 20
        while port_open() and time.time() < deadline:
            time.sleep(0.1)

    def maillog(self):
        try:
            with open(os.path.join(self.base, "maillog"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def port_open():
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(LISTEN)
        return True
    except OSError:
        return False
    finally:
        s.close()


# ---------------------------------------------------------------------------
# sessions
# ---------------------------------------------------------------------------

def final_reply_done(buf):
    """True when buf ends with a complete final reply line ("250 ...")."""
    if not buf.endswith(b"\r\n"):
        return False
    last = buf[:-2].rsplit(b"\r\n", 1)[-1]
    return len(last) < 4 or last[3:4] != b"-"


def read_replies(sock, first_timeout, quiet):
    buf = b""
    closed = False
    deadline = time.monotonic() + first_timeout
    while True:
        now = time.monotonic()
        timeout = quiet if final_reply_done(buf) else deadline - now
        if timeout <= 0:
            break
        sock.settimeout(timeout)
        try:
            data = sock.recv(65536)
        except (socket.timeout, ssl.SSLError, TimeoutError):
            break
        except OSError:
            closed = True
            break
        if not data:
            closed = True
            break
        buf += data
        deadline = time.monotonic() + first_timeout
    return buf, closed


def split_lines(buf):
    lines = buf.split(b"\r\n")
    tail = lines.pop()  # b"" when buf ends with CRLF
    out = [ln.decode("utf-8") for ln in lines]
    if tail:
        out.append(tail.decode("utf-8") + "<no CRLF>")
    return out


def mask(line):
    return QUEUED_RE.sub(r"\1QUEUEID", line)


def as_bytes(send):
    return send.encode("utf-8", "surrogateescape") if isinstance(send, str) else send


def encode_send(b):
    try:
        return {"send": b.decode("utf-8")}
    except UnicodeDecodeError:
        return {"send_base64": base64.b64encode(b).decode("ascii")}


def run_session(sess):
    out = {"id": sess["id"], "client": sess.get("client", "127.0.0.2")}
    if sess.get("ehlo"):
        out["ehlo"] = sess["ehlo"]
    if sess.get("note"):
        out["note"] = sess["note"]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((out["client"], 0))
    sock.connect(LISTEN)
    buf, closed = read_replies(sock, 10.0, QUIET)
    out["greeting"] = split_lines(buf)
    steps = []
    for st in sess["steps"]:
        if closed:
            # The server hung up: the remaining steps are never sent.
            out["unsent_steps"] = len(sess["steps"]) - len(steps)
            break
        if not isinstance(st, dict):
            st = {"send": st}
        rec = {}
        if st.get("tls_handshake"):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock.settimeout(10)
            sock = ctx.wrap_socket(sock, server_hostname=None)
            rec["tls_handshake"] = True
            first = 1.0
        else:
            b = as_bytes(st["send"])
            rec.update(encode_send(b))
            sock.sendall(b)
            first = st.get("wait", FIRST_TIMEOUT)
        buf, closed = read_replies(sock, first, QUIET)
        rec["replies"] = [mask(x) for x in split_lines(buf)]
        if closed:
            rec["closed"] = True
        if st.get("note"):
            rec["note"] = st["note"]
        steps.append(rec)
    out["steps"] = steps
    try:
        sock.close()
    except OSError:
        pass
    return out


def record_group(name, group, work):
    inst = Instance(os.path.join(work, name), group)
    inst.write()
    inst.start()
    try:
        # Sessions are independent (each has its own smtpd process), so run a
        # few at a time; results keep the order of the definitions.
        with ThreadPoolExecutor(PARALLEL) as pool:
            sessions = list(pool.map(run_session, group["sessions"]))
    finally:
        inst.stop()
    for r in sessions:
        log("  %-36s %s" % (r["id"], " | ".join(
            (s["replies"][-1][:40] if s["replies"] else "-") for s in r["steps"])))
    doc = {
        "server": "Postfix %s smtpd" % postfix_version(),
        "description": group.get("description", ""),
        "base_main_cf": BASE_MAIN_CF,
        "main_cf": group.get("main_cf", {}),
        "maps": group.get("maps", {}),
    }
    if group.get("files"):
        doc["files"] = group["files"]
    doc["sessions"] = sessions
    return doc


def postfix_version():
    r = subprocess.run(["postconf", "-dh", "mail_version"], capture_output=True, text=True)
    return r.stdout.strip()


def dump(doc):
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", help="groups to record (default: all)")
    ap.add_argument("--check", action="store_true", help="compare with the committed files instead")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()
    if os.geteuid() != 0:
        log("must run as root (Postfix master, network namespace)")
        return 2
    if not os.environ.get("MXGOLDEN_NETNS"):
        work = "/tmp/mxgolden-%d" % os.getpid()
        rc = reexec_in_netns([sys.executable, os.path.abspath(__file__)] + sys.argv[1:], work)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        return rc
    work = os.environ["MXGOLDEN_WORK"]
    differ = 0
    for name, group in cases.GROUPS.items():
        if args.only and name not in args.only:
            continue
        log("[%s] %d sessions" % (name, len(group["sessions"])))
        text = dump(record_group(name, group, work))
        path = os.path.join(HERE, name + ".json")
        if args.check:
            old = open(path).read() if os.path.exists(path) else ""
            if old != text:
                differ += 1
                new = os.path.join(work, name + ".json")
                with open(new, "w") as f:
                    f.write(text)
                log("[%s] DIFFERS: diff %s %s" % (name, path, new))
        else:
            with open(path, "w") as f:
                f.write(text)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
