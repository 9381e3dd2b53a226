# SPDX-License-Identifier: MIT
"""`close` by selection spares sockets a program is still using; doctor's close
commands select only abandoned sockets and really close them.

A slow server answers each request only when the test says so (as if computing
it); the client is `nc -N` (netcat-openbsd), which half-closes after sending its
request, as HTTP/1.0 clients do, so the server's socket sits in CLOSE_WAIT while
the answer is being computed. `close` with each method and the default
--min-idle must skip it, saying why, and the client must then receive the full
answer. doctor must print no close command for it. `--min-idle 0` does hit it
(with a warning). A leaky server holding abandoned CLOSE_WAIT sockets: the fin
command doctor prints (with --close-min-idle 1) closes exactly those.
"""

import hashlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import (JsonHelper, check, need_programs, run_named, run_tcpstate,  # noqa: E402
                   skip_unless_root, tcpstate_path, wait_until)
from tslab import Netns  # noqa: E402

PORT_SLOW, PORT_LEAK = 7201, 7202
SYS_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
ANSWER_BYTES = 256 * 1024
LEAKED = 4

# slow PORT: reads each request to its end (the client's FIN), says so, waits for
#   "answer" on stdin (at most 60 s), then writes ANSWER_BYTES and closes.
# leak PORT N: accepts N connections and never closes them.
# client PORT N: connects N times, half-closes each, and on "probe" reports what
#   each connection reads (eof once the server's FIN came).
HELPER = r"""
import hashlib, json, os, select, socket, sys
role, port = sys.argv[1], int(sys.argv[2])

def say(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()

def answer(n):
    block = hashlib.sha256(b"answer").hexdigest().encode() * 64
    return (block * (n // len(block) + 1))[:n]

if role == "slow":
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(16)
    say(event="listening", pid=os.getpid())
    while True:
        c, _ = lst.accept()
        req = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            req += chunk
        say(event="request", fd=c.fileno(), bytes=len(req), rport=c.getpeername()[1])
        r, _, _ = select.select([sys.stdin], [], [], 60)
        if r and not sys.stdin.readline():
            break
        try:
            c.sendall(answer(int(sys.argv[3])))
            c.close()
            say(event="answered", ok=True)
        except OSError as e:
            say(event="answered", ok=False, errno=e.errno)
elif role == "leak":
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(16)
    say(event="listening", pid=os.getpid())
    keep = [lst.accept()[0] for _ in range(int(sys.argv[3]))]
    say(event="ready", fds=[c.fileno() for c in keep])
    sys.stdin.read()
else:
    conns = []
    for _ in range(int(sys.argv[3])):
        c = socket.create_connection(("127.0.0.1", port))
        c.shutdown(socket.SHUT_WR)
        conns.append(c)
    say(event="ready", ports=[c.getsockname()[1] for c in conns])
    for line in sys.stdin:
        out = []
        for c in conns:
            c.settimeout(5)
            try:
                out.append("eof" if c.recv(100) == b"" else "data")
            except OSError as e:
                out.append("error:%d" % (e.errno or 0))
        say(event="probe", results=out)
"""


def expected_answer():
    block = hashlib.sha256(b"answer").hexdigest().encode() * 64
    return (block * (ANSWER_BYTES // len(block) + 1))[:ANSWER_BYTES]


class IdleNetns(Netns):
    def __init__(self):
        super().__init__("tsidle")

    def helper(self, *args):
        p = JsonHelper(["ip", "netns", "exec", self.name, SYS_PYTHON, "-c", HELPER, *map(str, args)])
        self.procs.append(p)
        return p

    def tcpstate(self, *args):
        return run_tcpstate(list(args), netns=self.name)

    def listed(self):
        rc, out, err = self.tcpstate("list", "--json")
        if rc != 0:
            raise AssertionError(f"list failed ({rc}): {err}")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def close_wait(self, port):
        return [s for s in self.listed() if s["state"] == "CLOSE_WAIT" and s["local_port"] == port]


def parse_close_json(out):
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    if not lines or "summary" not in lines[-1]:
        raise AssertionError(f"no summary line in: {out!r}")
    return lines[:-1], lines[-1]["summary"]


def nc_request(ns):
    """`nc -N`: sends a request, half-closes, prints the answer. Returns the Popen."""
    p = subprocess.Popen(["ip", "netns", "exec", ns.name, "nc", "-N", "127.0.0.1", str(PORT_SLOW)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"GET /slow HTTP/1.0\r\n\r\n")
    p.stdin.close()
    p.stdin = None  # so that communicate() does not flush it
    return p


def slow_request(ns, server, how, extra=()):
    """One request the server is still computing when close runs. Returns
    (close's items, summary, stderr, the client's bytes, its exit, the server's answer event)."""
    client = nc_request(ns)
    try:
        ev = server.read()
        if ev["event"] != "request":
            raise AssertionError(f"server: {ev}")
        if not wait_until(lambda: ns.close_wait(PORT_SLOW), 10):
            raise AssertionError("the half-closed request did not leave CLOSE_WAIT behind")
        rc, out, err = ns.tcpstate("close", "--sport", str(PORT_SLOW), "--state", "close-wait",
                                   "--how", how, "--yes", "--json", *extra)
        items, summary = parse_close_json(out)
        summary["rc"] = rc
        server.say("answer")
        answered = server.read()
        got, _ = client.communicate(timeout=30)
        return items, summary, err, got, client.returncode, answered
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(5)


def test_in_use_is_spared():
    """A half-closing client with the server still answering is never closed by a selection."""
    with IdleNetns() as ns:
        server = ns.helper("slow", PORT_SLOW, ANSWER_BYTES)
        check(server.read()["event"] == "listening", "slow server did not start")
        want = expected_answer()
        for how in ("fin", "fd", "rst"):
            items, summary, err, got, rc, answered = slow_request(ns, server, how)
            check(summary["rc"] == 4 and summary["done"] == 0 and summary["skipped"] == 1 and
                  summary.get("min_idle_s") == 60, f"{how}: close acted on a socket in use: {summary}")
            reason = items[0]["reason"] if items else ""
            check(reason.startswith("may be in use: ") and "ago (< --min-idle 60 s)" in reason,
                  f"{how}: skip reason {reason!r}")
            check(items and items[0].get("idle_ms") is not None and items[0]["idle_ms"] < 60000,
                  f"{how}: idle_ms {items[:1]}")
            print(f"{how}: skipped: {reason}", file=sys.stderr)
            check(answered.get("ok") is True, f"{how}: the server could not answer: {answered}")
            check(rc == 0 and got == want,
                  f"{how}: the client got {len(got)} of {len(want)} bytes (nc exit {rc})")

        # doctor reports it, and prints no close command for it.
        client = nc_request(ns)
        try:
            check(server.read()["event"] == "request", "doctor: no request")
            wait_until(lambda: ns.close_wait(PORT_SLOW), 10)
            # --min-age 0: a CLOSE_WAIT seconds old is reported at all (the close test is the point).
            rc, out, err = ns.tcpstate("doctor", "--json", "--min-age", "0")
            found = [f for f in json.loads(out)["findings"] if f["kind"] == "close-wait"]
            if check(len(found) == 1, f"doctor: findings {found}"):
                ev = found[0]["evidence"]
                check("close_commands" not in found[0] and ev.get("closable") == 0 and
                      ev.get("close_min_idle_s") == 60 and ev.get("busy_idle_ms") is not None,
                      f"doctor offers to close a socket in use: {found[0]}")
            rc, out, err = ns.tcpstate("doctor", "--min-age", "0")
            check("no command yet" in out and "tcpstate close --" not in out,
                  f"doctor text for a socket in use:\n{out}")
            server.say("answer")
            check(server.read().get("ok") is True, "doctor: the server could not answer")
            got, _ = client.communicate(timeout=30)
            check(got == want, f"doctor: the client got {len(got)} bytes")
        finally:
            if client.poll() is None:
                client.kill()
                client.wait(5)

        # --min-idle 0 turns the test off, and says what that risks.
        items, summary, err, got, rc, answered = slow_request(ns, server, "fin",
                                                              ("--min-idle", "0"))
        check(summary["rc"] == 0 and summary["done"] == 1, f"--min-idle 0: {summary}")
        check("--min-idle 0" in err and "lost" in err, f"--min-idle 0: no warning: {err}")
        check(got != want, "--min-idle 0 with fin: the answer still arrived in full")


def prompt_and_decline(args):
    """Runs tcpstate ARGS on a terminal and answers "n": (what it printed, its exit)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([tcpstate_path(), *args], stdin=slave, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    os.close(slave)
    buf = b""
    deadline = time.monotonic() + 20
    while b"[y/N]" not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([p.stderr], [], [], 0.2)
        if r:
            chunk = os.read(p.stderr.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
    os.write(master, b"n\n")
    out, err = p.communicate(timeout=20)
    os.close(master)
    return (buf + err).decode(errors="replace"), p.returncode


def test_doctor_command_closes_what_it_says():
    with IdleNetns() as ns:
        server = ns.helper("leak", PORT_LEAK, LEAKED)
        pid = server.read()["pid"]
        client = ns.helper("client", PORT_LEAK, LEAKED)
        check(client.read()["event"] == "ready", "client")
        fds = server.read()["fds"]
        check(wait_until(lambda: len(ns.close_wait(PORT_LEAK)) == LEAKED, 10), "no CLOSE_WAIT")

        def finding():
            rc, out, err = ns.tcpstate("doctor", "--json", "--min-age", "0", "--close-min-idle", "1")
            f = [f for f in json.loads(out)["findings"] if f["kind"] == "close-wait"]
            # All of them: they turn idle one by one, a few ms apart.
            return (f[0] if len(f) == 1 and "close_commands" in f[0]
                    and f[0]["evidence"].get("closable") == LEAKED else None)

        # The sockets become abandoned for --close-min-idle 1 a second after the FIN.
        f = wait_until(finding, 20, 0.2)
        if not check(f is not None, "doctor never offered a close command"):
            return
        cmds = f["close_commands"]
        check(f["evidence"].get("closable") == LEAKED and f["evidence"]["count"] == LEAKED,
              f"doctor evidence {f['evidence']}")
        check(cmds["fin"].startswith("tcpstate close ") and "--min-idle 1 " in cmds["fin"] and
              f"--pid {pid}" in cmds["fin"] and cmds["fin"].endswith("--how fin") and
              cmds["fd"].endswith("--how fd") and "fd number" in cmds.get("fd_hazard", ""),
              f"doctor commands {cmds}")
        rc, out, err = ns.tcpstate("doctor", "--min-age", "0", "--close-min-idle", "1")
        check(cmds["fin"] in out and cmds["fd"] in out and "EBADF" in out and
              out.index(cmds["fin"]) < out.index(cmds["fd"]), f"doctor text:\n{out}")

        # At a terminal, the fd command states the fd-number hazard before asking; "n" does nothing.
        text, rc = prompt_and_decline(cmds["fd"].split()[1:])
        check("[y/N]" in text and "same fd number" in text and "EBADF" in text and rc == 1,
              f"the --how fd prompt (exit {rc}):\n{text}")
        check(len(ns.close_wait(PORT_LEAK)) == LEAKED, "declined, yet sockets changed")

        # The printed command, run as printed (it names the namespace itself).
        rc, out, err = run_tcpstate(cmds["fin"].split()[1:] + ["--yes", "--json"])
        items, summary = parse_close_json(out)
        check(rc == 0 and summary["done"] == LEAKED and summary["skipped"] == 0,
              f"doctor's fin command: exit {rc} {summary} {err}")
        check(all(i["holders"][0]["pid"] == pid and i["holders"][0]["fd"] in fds for i in items),
              f"doctor's fin command acted on {items}")
        client.say("probe")
        check(client.read()["results"] == ["eof"] * LEAKED, "the client did not see the FINs")
        check(not ns.close_wait(PORT_LEAK), "CLOSE_WAIT left after doctor's command")


def main():
    skip_unless_root()
    need_programs("nc")  # netcat-openbsd
    rc, out, err = run_tcpstate(["close", "--help"])
    if rc != 0 or "--min-idle" not in out:
        check(False, f"close --help lacks --min-idle: {rc} {err}")
    only = sys.argv[1:]
    tests = [("in use is spared", test_in_use_is_spared),
             ("doctor command", test_doctor_command_closes_what_it_says)]
    run_named(tests, "close-idle", only)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()
