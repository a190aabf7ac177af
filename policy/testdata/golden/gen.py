#!/usr/bin/env python3
"""Regenerate the golden RCPT-time corpus from a real Postfix 3.7 smtpd.

usage (as root, on a machine with postfix + postfix-cdb installed):
    python3 policy/testdata/golden/gen.py            # all configurations
    python3 policy/testdata/golden/gen.py backup     # only some

For each directory CONF under policy/testdata/golden/ that holds a `cases`
file, this script
  1. builds a private Postfix instance in a scratch directory: base.cf, then
     CONF/main.cf appended (later lines win), with @CONF@ replaced by the
     scratch copy of CONF and @POLICY@ by the address of a throw-away policy
     server on 127.0.0.1;
  2. starts ../../../../shared/tools/postfix/service_shim.py (the rewrite and
     cleanup stand-ins) and the policy server;
  3. runs `smtpd -S` as uid postfix once per session of `cases` (XCLIENT
     sets the client address and name), piping the session with CRLF through
     `script -qc`;
  4. writes CONF/want.txt: one line per RCPT,
     client<TAB>client_name<TAB>helo<TAB>sender<TAB>rcpt<TAB>reply
     and, when the policy server was asked anything, CONF/policy_requests.txt
     (the attribute names of every request, in order, then the values of the
     first one).

`cases` syntax, one item per line, '#' starts a comment line:
    client ADDR [NAME]   start a new session as this client (default 127.0.0.1)
    helo NAME            HELO name for the following sessions (default client.example)
    sender <ADDR>        MAIL FROM for the following sessions (new session)
    <ADDR>               a RCPT TO argument, verbatim
    split                start a new session (e.g. after a 421)

The policy server answers from CONF/policy.map (`localpart action...`, keyed
by the recipient's localpart; default DUNNO). The special actions
`!close` (close the connection without replying) and `!garbage` (send a
line that is not name=value) test the client's error handling. The Go test
runs an in-process server with the same rules.
"""
import os, shutil, signal, socket, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
SHIM = os.path.join(HERE, '../../../../shared/tools/postfix/service_shim.py')
SMTPD = '/usr/lib/postfix/sbin/smtpd'


def parse_cases(path):
    """Return a list of sessions: (client, name, helo, sender, [rcpt...])."""
    client, name, helo, sender = '127.0.0.1', '', 'client.example', '<sender@sender.example>'
    sessions, cur = [], None

    def new():
        nonlocal cur
        cur = (client, name, helo, sender, [])
        sessions.append(cur)

    for line in open(path, encoding='utf-8'):
        line = line.rstrip('\n')
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        word, _, rest = line.partition(' ')
        if word == 'client':
            parts = rest.split()
            client, name = parts[0], (parts[1] if len(parts) > 1 else '')
            cur = None
        elif word == 'helo':
            helo, cur = rest.strip(), None
        elif word == 'sender':
            sender, cur = rest.strip(), None
        elif word == 'split':
            cur = None
        else:
            if cur is None:
                new()
            cur[4].append(line)
    return [s for s in sessions if s[4]]


def read_replies(data):
    """Split smtpd output into complete replies (multi-line joined)."""
    out, cur = [], []
    for line in data.split('\n'):
        line = line.rstrip('\r')
        if not line:
            continue
        cur.append(line)
        if len(line) < 4 or line[3] != '-':
            out.append('\n'.join(cur))
            cur = []
    return out


class PolicyServer:
    def __init__(self, mapfile):
        self.rules = {}
        if os.path.exists(mapfile):
            for line in open(mapfile, encoding='utf-8'):
                if line.strip() and not line.startswith('#'):
                    k, _, v = line.rstrip('\n').partition(' ')
                    self.rules[k.lower()] = v.strip()
        self.requests = []
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.addr = 'inet:127.0.0.1:%d' % self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self.conn, args=(c,), daemon=True).start()

    def conn(self, c):
        f = c.makefile('rwb', buffering=0)
        while True:
            attrs = []
            while True:
                line = f.readline()
                if not line:
                    c.close()
                    return
                line = line.rstrip(b'\n').decode('utf-8', 'replace')
                if line == '':
                    break
                k, _, v = line.partition('=')
                attrs.append((k, v))
            self.requests.append(attrs)
            rcpt = dict(attrs).get('recipient', '')
            local = rcpt.rpartition('@')[0] if '@' in rcpt else rcpt
            action = self.rules.get(local.lower(), 'DUNNO')
            if action == '!close':
                c.close()
                return
            if action == '!garbage':
                f.write(b'this is not an attribute\n\n')
                continue
            f.write(('action=%s\n\n' % action).encode())


def run_conf(name):
    src = os.path.join(HERE, name)
    scratch = tempfile.mkdtemp(prefix='policy-golden-')
    try:
        conf, q, d = (os.path.join(scratch, x) for x in ('conf', 'q', 'd'))
        shutil.copytree(src, conf)
        os.makedirs(q)
        os.makedirs(d)
        shutil.copy('/usr/share/postfix/master.cf.dist', os.path.join(conf, 'master.cf'))
        pol = PolicyServer(os.path.join(src, 'policy.map'))
        text = open(os.path.join(HERE, 'base.cf')).read() + '\n'
        if os.path.exists(os.path.join(src, 'main.cf')):
            text += open(os.path.join(src, 'main.cf')).read()
        text += '\nqueue_directory = %s\ndata_directory = %s\n' % (q, d)
        text = text.replace('@CONF@', conf).replace('@POLICY@', pol.addr)
        open(os.path.join(conf, 'main.cf'), 'w').write(text)
        subprocess.run(['chown', '-R', 'postfix', scratch], check=True)
        shim = subprocess.Popen([sys.executable, SHIM, conf, q])
        time.sleep(0.5)
        rows = []
        try:
            for client, cname, helo, sender, rcpts in parse_cases(os.path.join(src, 'cases')):
                rows += run_session(conf, scratch, client, cname, helo, sender, rcpts)
        finally:
            shim.kill()
            shim.wait()
        with open(os.path.join(src, 'want.txt'), 'w', encoding='utf-8') as w:
            w.write('# generated by gen.py from Postfix %s: client\tname\thelo\tsender\trcpt\treply\n'
                    % postfix_version())
            for r in rows:
                w.write('\t'.join(r) + '\n')
        if pol.requests:
            with open(os.path.join(src, 'policy_requests.txt'), 'w', encoding='utf-8') as w:
                w.write('# policy requests received: attribute order (same for all: %s), '
                        'then the recipient of each request, then the first request in full\n'
                        % (len({tuple(k for k, _ in a) for a in pol.requests}) == 1))
                w.write('order ' + ' '.join(k for k, _ in pol.requests[0]) + '\n')
                for attrs in pol.requests:
                    w.write('recipient ' + dict(attrs).get('recipient', '') + '\n')
                for k, v in pol.requests[0]:
                    w.write('attr %s=%s\n' % (k, v))
        print('%s: %d cases, %d policy requests' % (name, len(rows), len(pol.requests)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_session(conf, scratch, client, cname, helo, sender, rcpts):
    cmds = ['EHLO ' + helo,
            'XCLIENT ADDR=%s NAME=%s' % (client, cname or '[UNAVAILABLE]'),
            'EHLO ' + helo,
            'MAIL FROM:' + sender]
    cmds += ['RCPT TO:' + r for r in rcpts]
    cmds.append('QUIT')
    sess = os.path.join(scratch, 'session')
    with open(sess, 'wb') as f:
        f.write(''.join(c + '\r\n' for c in cmds).encode('utf-8'))
    cmd = 'setpriv --reuid=postfix --regid=postfix --clear-groups env MAIL_CONFIG=%s %s -S < %s' % (
        conf, SMTPD, sess)
    # smtpd may wait for the fake cleanup service after QUIT (e.g. after
    # DISCARD or HOLD): read until the 221 or EOF, then end the session.
    p = subprocess.Popen(['script', '-qc', cmd, '/dev/null'], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    timer = threading.Timer(120, lambda: os.killpg(p.pid, signal.SIGKILL))
    timer.start()
    lines = []
    for line in p.stdout:
        lines.append(line)
        if line.startswith(b'221 '):
            break
    timer.cancel()
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()
    out = b''.join(lines)
    replies = read_replies(out.decode('utf-8', 'replace'))
    # greeting, EHLO, XCLIENT (new greeting), EHLO, MAIL, RCPT..., QUIT
    if len(replies) < 5 or not replies[2].startswith('220') or not replies[4].startswith('250'):
        raise SystemExit('session setup failed for %s: %r' % (conf, replies[:6]))
    rows = []
    for i, r in enumerate(rcpts):
        reply = replies[5 + i] if 5 + i < len(replies) else '(disconnected)'
        if reply.startswith('221'):
            reply = '(disconnected)'
        rows.append((client, cname, helo, sender, r, reply.replace('\n', '\\n')))
    return rows


def postfix_version():
    return subprocess.run(['postconf', '-dh', 'mail_version'], capture_output=True, text=True).stdout.strip()


if __name__ == '__main__':
    names = sys.argv[1:] or sorted(n for n in os.listdir(HERE)
                                   if os.path.exists(os.path.join(HERE, n, 'cases')))
    for n in names:
        run_conf(n)
