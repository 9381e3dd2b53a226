# SPDX-License-Identifier: MIT
"""Text from other processes never reaches the terminal raw: a process that
names itself with ESC sequences, C1 controls and invalid UTF-8 (PR_SET_NAME),
whose command line carries more of them, holding a CLOSE_WAIT socket in a
namespace whose /run/netns name has an escape too. doctor, summary, explain,
list and close --dry-run must print '?' for each such byte; their JSON must
escape the C0 controls."""

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import check, finish, skip_unless_root, tcpstate_path  # noqa: E402

# 10 bytes (PR_SET_NAME keeps 15): ESC [ 2 J, a raw C1 CSI (0x9b) and BEL.
COMM = b"\x1b[2Jev\x9b\x07il"
COMM_SHOWN = b"?[2Jev??il"
# An argument: ESC (the library turns C0 into spaces), U+009B as UTF-8, a stray 0xff.
ARG = b"\x1b[2J\xc2\x9bmark\xff"
ARG_SHOWN = b" [2J??mark?"
NS_SUFFIX = b"\x1b[7m"

SERVER = r"""
import ctypes, socket, sys
name = bytes.fromhex(sys.argv[1])
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)  # PR_SET_NAME
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
port = srv.getsockname()[1]
cli = socket.create_connection(("127.0.0.1", port))
conn, _ = srv.accept()
cli.close()  # conn: CLOSE_WAIT, held by this process
print(port, flush=True)
sys.stdin.read()
"""

# What a terminal acts on: C0 but newline, DEL, C1 as UTF-8; invalid UTF-8 fails decoding.
BAD = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


def run(args):
    r = subprocess.run([tcpstate_path(), *args], capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def terminal_safe(what, data):
    m = BAD.search(data)
    ok = check(m is None, f"{what}: raw control byte {m.group(0)!r} at {m.start()}: "
               f"{data[max(0, m.start() - 40):m.start() + 20]!r}" if m else what)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        ok = check(False, f"{what}: not UTF-8 ({e}): {data[max(0, e.start - 40):e.start + 20]!r}")
    return ok


def strings(v):
    """Every string value in a parsed JSON document."""
    if isinstance(v, str):
        return [v]
    if isinstance(v, dict):
        v = list(v.values())
    if isinstance(v, list):
        return [s for x in v for s in strings(x)]
    return []


def main():
    skip_unless_root()
    ns = b"tsesc-" + secrets.token_hex(4).encode() + NS_SUFFIX
    ns_shown = ns[:-len(NS_SUFFIX)] + b"?[7m"
    subprocess.run([b"ip", b"netns", b"add", ns], check=True)
    proc = None
    try:
        subprocess.run([b"ip", b"netns", b"exec", ns, b"ip", b"link", b"set", b"lo", b"up"],
                       check=True)
        proc = subprocess.Popen([b"ip", b"netns", b"exec", ns, sys.executable.encode(), b"-c",
                                 SERVER.encode(), COMM.hex().encode(), ARG],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        port = int(proc.stdout.readline())
        nsarg = os.fsdecode(ns)
        pid = str(proc.pid)
        # The python server is the child of `ip netns exec` (exec'd in place: same pid).
        cases = [
            ("doctor", ["doctor", "--netns", nsarg, "--close-wait-min", "1", "--min-age", "0"],
             [COMM_SHOWN, ARG_SHOWN, ns_shown]),
            ("summary", ["summary", "--netns", nsarg], [COMM_SHOWN, ns_shown]),
            ("list", ["list", "--netns", nsarg], [COMM_SHOWN]),
            ("list --all-netns", ["list", "--all-netns", "--port", str(port)], [COMM_SHOWN]),
            ("explain", ["explain", f"127.0.0.1:{port}", "--netns", nsarg], [COMM_SHOWN]),
            ("close --dry-run", ["close", "--netns", nsarg, "--pid", pid, "--state",
                                 "close-wait", "--how", "fin", "--dry-run", "--min-idle", "0"],
             [COMM_SHOWN]),
        ]
        for what, args, wanted in cases:
            rc, out, err = run(args)
            check(rc in (0, 3), f"{what}: exit {rc}: {err[-300:]!r}")
            terminal_safe(f"{what} stdout", out)
            terminal_safe(f"{what} stderr", err)
            for w in wanted:
                check(w in out, f"{what}: {w!r} not shown: {out[:1500]!r}")

        # sysctl.d lines echoed by the tune lint.
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "etc/sysctl.d"))
            with open(os.path.join(root, "etc/sysctl.d/99-esc.conf"), "wb") as f:
                f.write(b"net.ipv4.tcp_fin_timeout = 3\x1b[2J0\n"
                        b"net.ipv4.tcp_tw_reuse\x1b]0;x\x07 = 1\n"
                        b"no assignment \x9b\x1b[31m here\n")
            rc, out, err = run(["tune", "--netns", nsarg, "--config-root", root])
            check(rc == 0, f"tune: exit {rc}: {err[-300:]!r}")
            terminal_safe("tune stdout", out)
            terminal_safe("tune stderr", err)
            check(b"3?[2J0" in out and b"?[31m" in out, f"tune lint lines shown: {out[-800:]!r}")

        # JSON keeps the text, escaped (\u001b, \u009b); a byte that is not UTF-8
        # cannot be carried and is U+FFFD.
        comm_json = "\x1b[2Jev\ufffd\x07il"
        arg_json = "\u009bmark\ufffd"
        for what, args in (("doctor --json", ["doctor", "--netns", nsarg, "--close-wait-min",
                                               "1", "--min-age", "0", "--json"]),
                           ("list --json", ["list", "--netns", nsarg, "--json"]),
                           ("summary --json", ["summary", "--netns", nsarg, "--json"]),
                           ("explain --json", ["explain", f"127.0.0.1:{port}", "--netns",
                                               nsarg, "--json"])):
            rc, out, err = run(args)
            check(rc in (0, 3), f"{what}: exit {rc}: {err[-300:]!r}")
            if not terminal_safe(f"{what} stdout", out):
                continue
            text = out.decode("utf-8")
            docs = [json.loads(line) for line in text.splitlines()] if "list" in what \
                else [json.loads(text)]
            found = strings(docs)
            check(comm_json in found, f"{what}: the comm kept, escaped: {text[:600]!r}")
            if what.startswith("doctor"):
                check(any(arg_json in s for s in found),
                      f"{what}: the command line kept, escaped: {text[:600]!r}")
    finally:
        if proc:
            proc.stdin.close()
            proc.wait(timeout=10)
        subprocess.run([b"ip", b"netns", b"del", ns], capture_output=True)
    finish("escapes")


if __name__ == "__main__":
    main()
