# SPDX-License-Identifier: MIT
"""`tcpstate list` output: on an 80-column terminal (a pty) every row still
shows its holder whole (no cut at the terminal's width), columns sized to
IPv6 addresses; addresses printed as bound (0.0.0.0, [::] for v6only, *
only for dual stack) and the JSON's v6only; -H; --sort; a stable default
order."""

import fcntl
import json
import os
import pty
import re
import secrets
import select
import struct
import subprocess
import sys
import termios

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import check, finish, skip_unless_root, tcpstate_path  # noqa: E402

LONG6 = "fd00:1234:5678:9abc:def0:1234:5678:9abc"
COMM = "averylongname15"

SERVER = r"""
import ctypes, os, socket, sys
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(sys.argv[1].encode()), 0, 0, 0)  # PR_SET_NAME
long6 = sys.argv[2]
s4 = socket.socket(); s4.bind(("0.0.0.0", 8100)); s4.listen()
s6 = socket.socket(socket.AF_INET6)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); s6.bind(("::", 8101)); s6.listen()
sd = socket.socket(socket.AF_INET6)
sd.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); sd.bind(("::", 8102)); sd.listen()
c = socket.socket(socket.AF_INET6); c.bind((long6, 0)); c.connect((long6, 8102))
a, _ = sd.accept()
c.sendall(b"x" * 5000)  # unread: the accepted socket's Recv-Q
i6 = socket.socket(socket.AF_INET6)  # IDLE: in no dump, v6only read through its fd
i6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
id = socket.socket(socket.AF_INET6)
id.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
for fd, s in enumerate((s4, s6, sd, c, a, i6, id), 1000):
    os.dup2(s.fileno(), fd)  # a long holder: fd 1000 and up, the only one
    os.close(s.detach())
print(os.getpid(), flush=True)
sys.stdin.read()
"""

RANK = ["IDLE", "BOUND", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
        "FIN_WAIT_2", "CLOSE_WAIT", "LAST_ACK", "CLOSING", "TIME_WAIT", "CLOSED", "UNKNOWN"]
HOLDER = re.compile(r"(\S+)/(\d+)/fd(\d+)( \+\d+)?$")


def run(args):
    r = subprocess.run([tcpstate_path(), *args], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def run_pty(args, cols=80, rows=24):
    """args' output on a terminal of cols x rows."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen([tcpstate_path(), *args], stdin=slave, stdout=slave,
                            stderr=subprocess.PIPE, close_fds=True)
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], 30)
        if not r:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        out += data
    os.close(master)
    proc.wait(timeout=30)
    return proc.returncode, out.decode().replace("\r\n", "\n")


def main():
    skip_unless_root()
    ns = "tsout-" + secrets.token_hex(4)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    proc = None
    try:
        nsx = ["ip", "netns", "exec", ns]
        subprocess.run(nsx + ["ip", "link", "set", "lo", "up"], check=True)
        subprocess.run(nsx + ["ip", "addr", "add", LONG6 + "/128", "dev", "lo", "nodad"],
                       check=True)
        proc = subprocess.Popen(nsx + [sys.executable, "-c", SERVER, COMM, LONG6],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        pid = int(proc.stdout.readline())

        rc, out, err = run(["list", "--netns", ns, "--json"])
        check(rc == 0, f"list --json: rc {rc}: {err}")
        listed = [json.loads(line) for line in out.splitlines()]
        holders = {(o["comm"], o["pid"], o["fd"]) for s in listed for o in s["owners"]}
        check(holders == {(COMM, pid, fd) for fd in range(1000, 1007)},
              f"list --json holders: {holders}")

        # An 80-column terminal: every row's holder whole.
        rc, text = run_pty(["list", "--netns", ns])
        check(rc == 0, f"list on a pty: rc {rc}: {text}")
        lines = text.splitlines()
        check(lines and lines[0].startswith("STATE"), f"list on a pty: header: {text!r}")
        rows = lines[1:]
        check(len(rows) == len(listed), f"list on a pty: {len(rows)} rows, {len(listed)} sockets")
        shown = set()
        for row in rows:
            m = HOLDER.search(row)
            if check(m is not None, f"list at 80 columns: holder cut: {row!r}"):
                shown.add((m.group(1), int(m.group(2)), int(m.group(3))))
        check(shown == holders, f"list at 80 columns: holders {shown} != {holders}")
        check(any(f"[{LONG6}]:8102" in r for r in rows), f"long IPv6 peer whole: {text}")
        # Columns sized to the data: the PROCESS column starts at one offset in every row.
        starts = {row.index(m.group(0)) for row in rows if (m := HOLDER.search(row))}
        check(len(starts) == 1 and lines[0].index("PROCESS") in starts,
              f"holder column not aligned ({starts}): {text}")

        # Addresses as bound, v6only.
        for port, form, v6only in ((8100, "0.0.0.0:8100", False), (8101, "[::]:8101", True),
                                   (8102, "*:8102", False)):
            row = [r for r in rows if r.startswith("LISTEN") and f":{port} " in r]
            check(len(row) == 1 and form in row[0], f"LISTEN {port} printed as {form}: {row}")
            js = [s for s in listed if s["state"] == "LISTEN" and s["local_port"] == port]
            check(len(js) == 1 and js[0].get("v6only") is v6only,
                  f"LISTEN {port}: json v6only should be {v6only}: {js}")

        for fd, v6only in ((1005, True), (1006, False)):
            js = [s for s in listed if s["owners"] and s["owners"][0]["fd"] == fd]
            check(len(js) == 1 and js[0]["state"] == "IDLE" and js[0]["source"] == "fd"
                  and js[0].get("v6only") is v6only,
                  f"IDLE fd {fd}: v6only through the fd should be {v6only}: {js}")
        idle = [r for r in rows if r.startswith("IDLE")]
        check(sorted(r.split()[3] for r in idle) == ["*:*", "[::]:*"],
              f"IDLE rows: dual stack *:*, v6only [::]:*: {idle}")

        # Default order: stable, state in lifecycle order, then local port.
        rc, out2, _ = run(["list", "--netns", ns, "--json"])
        again = [json.loads(line) for line in out2.splitlines()]
        check([s["cookie"] for s in again] == [s["cookie"] for s in listed],
              "default order not stable across runs")
        keys = [(RANK.index(s["state"]), s["local_port"]) for s in listed]
        check(keys == sorted(keys), f"default order (state, port): {keys}")

        # -H
        rc, out, err = run(["list", "--netns", ns, "-H"])
        check(rc == 0 and len(out.splitlines()) == len(listed)
              and not out.startswith("STATE"), f"list -H: {out!r} {err}")

        def sorted_by(key):
            rc, out, err = run(["list", "--netns", ns, "--json", "--sort", key])
            check(rc == 0, f"--sort {key}: rc {rc}: {err}")
            return [json.loads(line) for line in out.splitlines()]

        ports = [s["local_port"] for s in sorted_by("port")]
        check(ports == sorted(ports), f"--sort port: {ports}")
        q = sorted_by("queue")
        check(q and q[0]["recv_q"] == 5000, f"--sort queue: largest first: {q[:1]}")
        qs = [s["recv_q"] + (0 if s["state"] == "LISTEN" else s["send_q"]) for s in q]
        check(qs == sorted(qs, reverse=True), f"--sort queue: {qs}")
        st = [RANK.index(s["state"]) for s in sorted_by("state")]
        check(st == sorted(st), f"--sort state: {st}")
        pids = [s["owners"][0]["pid"] if s["owners"] else 1 << 40 for s in sorted_by("pid")]
        check(pids == sorted(pids), f"--sort pid: {pids}")
        check(len(sorted_by("age")) == len(listed), "--sort age lists every socket")
        rc, _, err = run(["list", "--sort", "bogus"])
        check(rc == 2 and "bogus" in err, f"--sort bogus: rc {rc}: {err}")
    finally:
        if proc:
            proc.stdin.close()
            proc.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    finish("list output")


if __name__ == "__main__":
    main()
