#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Re-records diag_tcp_dump.bin (and diag_tcp_dump.txt) for test_diag.

    python3 tests/unit/data/make_diag_dump.py build/tests/unit/record_dump [OUTDIR]

Needs root: it re-runs itself under `unshare -n`, so every socket lives in a
throwaway network namespace with only lo, on fixed ports (the dump is the
same on every run but for inodes, cookies and timers). It builds sockets in
LISTEN, ESTABLISHED, CLOSE_WAIT, FIN_WAIT_2, TIME_WAIT and BOUND (bind only;
Linux >= 6.8 dumps those), IPv4 and IPv6, then lets record_dump write the
kernel's answer. If you change the sockets here, change EXPECTED in
tests/unit/test_diag.c too.
"""
import os
import socket
import subprocess
import sys
import time

V4, V6 = socket.AF_INET, socket.AF_INET6
LO = {V4: "127.0.0.1", V6: "::1"}

# (family, state, local port, remote port, note): what the dump must show.
EXPECTED = [
    ("inet", "LISTEN", 40001, 0, "127.0.0.1:40001, backlog 7"),
    ("inet", "ESTABLISHED", 40101, 40001, "client"),
    ("inet", "ESTABLISHED", 40001, 40101, "accepted"),
    ("inet", "FIN_WAIT_2", 40102, 40001, "client did shutdown(SHUT_WR)"),
    ("inet", "CLOSE_WAIT", 40001, 40102, "accepted, peer sent FIN"),
    ("inet", "TIME_WAIT", 40103, 40001, "client closed first"),
    ("inet", "ESTABLISHED", 40104, 41002, "v4 client of the dual-stack listener"),
    ("inet", "BOUND", 40201, 0, "bind 127.0.0.1:40201 only"),
    ("inet", "BOUND", 40202, 0, "bind 0.0.0.0:40202 only"),
    ("inet6", "LISTEN", 41001, 0, "[::1]:41001, backlog 128"),
    ("inet6", "LISTEN", 41002, 0, "[::]:41002 dual-stack, backlog 5"),
    ("inet6", "ESTABLISHED", 41101, 41001, "client"),
    ("inet6", "ESTABLISHED", 41001, 41101, "accepted"),
    ("inet6", "FIN_WAIT_2", 41102, 41001, "client did shutdown(SHUT_WR)"),
    ("inet6", "CLOSE_WAIT", 41001, 41102, "accepted, peer sent FIN"),
    ("inet6", "TIME_WAIT", 41103, 41001, "client closed first"),
    ("inet6", "ESTABLISHED", 41002, 40104, "accepted, [::ffff:127.0.0.1]"),
    ("inet6", "BOUND", 41201, 0, "bind [::1]:41201 only"),
    ("inet6", "BOUND", 41202, 0, "bind [::]:41202 only (v6only)"),
]

keep = []  # every socket must outlive the recording


def sock(family, port, addr=None, v6only=None):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if v6only else 0)
    s.bind((LO[family] if addr is None else addr, port))
    keep.append(s)
    return s


def connect(family, lport, listener, dport, daddr=None):
    c = sock(family, lport)
    c.connect((LO[family] if daddr is None else daddr, dport))
    a, _ = listener.accept()
    keep.append(a)
    return c, a


def build(family, base):
    lst = sock(family, base + 1)
    lst.listen(7 if family == V4 else 128)
    connect(family, base + 101, lst, base + 1)  # ESTABLISHED pair
    c, a = connect(family, base + 102, lst, base + 1)
    c.shutdown(socket.SHUT_WR)  # c: FIN_WAIT_2, a: CLOSE_WAIT
    c, a = connect(family, base + 103, lst, base + 1)
    c.close()  # active close: c ends in TIME_WAIT
    keep.remove(c)
    a.recv(1)
    a.close()
    keep.remove(a)
    sock(family, base + 201)
    if family == V4:
        sock(V4, base + 202, addr="0.0.0.0")
    else:
        sock(V6, base + 202, addr="::", v6only=True)


def record(recorder, out_bin):
    r = subprocess.run([recorder, out_bin], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("%s failed: %s" % (recorder, r.stderr.strip()))
    return sorted(tuple(l.split()[:2]) + tuple(int(x) for x in l.split()[2:4])
                  for l in r.stdout.splitlines())


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    recorder = os.path.abspath(sys.argv[1])
    outdir = sys.argv[2] if len(sys.argv) == 3 else os.path.dirname(os.path.abspath(__file__))
    if os.environ.get("MAKE_DIAG_DUMP_NETNS") != "1":
        env = dict(os.environ, MAKE_DIAG_DUMP_NETNS="1")
        os.execvpe("unshare", ["unshare", "-n", sys.executable, os.path.abspath(__file__),
                               recorder, outdir], env)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

    build(V4, 40000)
    build(V6, 41000)
    dual = sock(V6, 41002, addr="::", v6only=False)
    dual.listen(5)
    connect(V4, 40104, dual, 41002, daddr="127.0.0.1")

    os.makedirs(outdir, exist_ok=True)
    out_bin = os.path.join(outdir, "diag_tcp_dump.bin")
    want = sorted(e[:4] for e in EXPECTED)
    deadline = time.monotonic() + 5
    while True:  # LAST_ACK peers of the TIME_WAIT sockets go away on their own
        got = record(recorder, out_bin)
        if got == want:
            break
        if time.monotonic() > deadline:
            sys.exit("dump differs from EXPECTED:\n got  %s\n want %s" % (got, want))
        time.sleep(0.05)

    with open(os.path.join(outdir, "diag_tcp_dump.txt"), "w") as f:
        f.write("# diag_tcp_dump.bin: a NETLINK_SOCK_DIAG TCP dump (AF_INET, then AF_INET6;\n"
                "# all states; INET_DIAG_INFO), as [u32 length][recv() buffer] records,\n"
                "# recorded by tests/unit/record_dump under make_diag_dump.py on Linux %s.\n"
                "# family state local_port remote_port  note\n" % os.uname().release)
        for e in EXPECTED:
            f.write("%s %s %d %d  %s\n" % e)


if __name__ == "__main__":
    main()
