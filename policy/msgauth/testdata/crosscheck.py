"""Checks messages with Debian's independent implementations, for
policy/msgauth's TestCrossCheck: dkimpy (python3-dkim) for every DKIM
signature, pyspf (python3-spf) for SPF, authheaders (python3-authheaders)
for DMARC. Every DNS question goes to the test's in-process server
(argv[1], "127.0.0.1:port"), never to the machine's resolver.

Reads a JSON list of cases on stdin, each {"file", "ip", "mail_from",
"helo"}; writes a JSON list of {"dkim": [...], "spf", "spf_helo", "dmarc"}.
"""
import json
import sys

import dns.resolver

host, port = sys.argv[1].rsplit(":", 1)
r = dns.resolver.Resolver(configure=False)
r.nameservers = [host]
r.port = int(port)
r.lifetime = 5
dns.resolver.default_resolver = r

import authheaders  # noqa: E402
import dkim  # noqa: E402
import spf  # noqa: E402


def dkim_results(msg):
    out = []
    d = dkim.DKIM(msg)
    n = sum(1 for h in msg.split(b"\r\n\r\n", 1)[0].split(b"\r\n") if h.lower().startswith(b"dkim-signature:"))
    for i in range(n):
        try:
            ok = dkim.DKIM(msg).verify(idx=i)
        except dkim.DKIMException:
            ok = False
        d = dkim.DKIM(msg)
        try:
            d.verify(idx=i)
        except Exception:
            pass
        domain = d.signature_fields.get(b"d", b"").decode("ascii") if d.signature_fields else ""
        out.append({"result": "pass" if ok else "fail", "domain": domain})
    return out


def main():
    cases = json.load(sys.stdin)
    results = []
    for c in cases:
        msg = open(c["file"], "rb").read()
        dk = dkim_results(msg)
        spf_res, _ = spf.check2(c["ip"], c["mail_from"], c["helo"])
        helo_res, _ = spf.check2(c["ip"], "postmaster@" + c["helo"], c["helo"])
        spf_ar = authheaders.SPFAuthenticationResult(result=spf_res, smtp_mailfrom=c["mail_from"], smtp_helo=c["helo"])
        dmarc = None
        for k in dk or [{"result": "none", "domain": ""}]:
            dk_ar = authheaders.DKIMAuthenticationResult(result=k["result"], header_d=k["domain"])
            res = authheaders.check_dmarc(msg, spf_result=spf_ar, dkim_result=dk_ar)
            value = res.result if res is not None else "none"
            if dmarc is None or value == "pass":
                dmarc = value
        results.append({"dkim": [k["result"] for k in dk], "spf": spf_res, "spf_helo": helo_res, "dmarc": dmarc})
    json.dump(results, sys.stdout)


main()
