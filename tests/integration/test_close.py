# SPDX-License-Identifier: MIT
"""`tcpstate close` against real sockets in throwaway namespaces.

Each scenario builds a fresh namespace with a test server (LISTEN on ports A,
B and L; 5 CLOSE_WAIT sockets accepted on A, 5 on B, 2 ESTABLISHED on A) and a
client in the same namespace that half-closed 10 of its connections. Then, for
each method (rst, fin, fd), `close --port A --state close-wait --how M --yes`
must end exactly those 5 sockets: the snapshot afterwards, the client's view
and (fd) the server's /proc/PID/fd are checked. Also: --dry-run, the identity
race (TCPSTATE_CLOSE_PAUSE_FD), missing privilege, a traced process, LISTEN
without an explicit state, TIME_WAIT with fin, and --yes without a terminal.

close acts only on sockets idle for --min-idle (default 60 s): a scene waits
until its CLOSE_WAIT sockets have been idle for MIN_IDLE seconds and every
close runs with --min-idle MIN_IDLE unless the test names another.
"""

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import (JsonHelper, check, need_programs, run_named, run_tcpstate,  # noqa: E402
                   skip_unless_root, tcpstate_path, wait_until)

PORT_A, PORT_B, PORT_L = 7101, 7102, 7103
MIN_IDLE = 1
SYS_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
NOBODY = 65534



# The server and the client: line protocols on stdin/stdout (JSON answers).
HELPER = r"""
import json, os, socket, sys
role = sys.argv[1]

def say(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()

if role == "server":
    a, b, l = (int(x) for x in sys.argv[2:5])
    lst = {}
    for p in (a, b, l):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", p))
        s.listen(64)
        lst[p] = s
    say(event="listening", pid=os.getpid())
    keep = []
    for p, n in ((a, 7), (b, 5)):
        for _ in range(n):
            c, peer = lst[p].accept()
            keep.append(c)
    socks = [{"fd": c.fileno(), "lport": c.getsockname()[1], "rport": c.getpeername()[1]}
             for c in keep]
    say(event="ready", pid=os.getpid(), socks=socks,
        listeners={str(p): s.fileno() for p, s in lst.items()})
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "accept":
            lst[int(cmd[1])].settimeout(5)
            try:
                c, _ = lst[int(cmd[1])].accept()
                keep.append(c)
                say(event="accepted", fd=c.fileno())
            except OSError as e:
                say(event="accept-failed", error=str(e))
        elif cmd[0] == "dup":
            say(event="dup", fd=os.dup(int(cmd[1])))
        elif cmd[0] == "swap":
            os.dup2(int(cmd[2]), int(cmd[1]), inheritable=False)
            say(event="swapped")
        elif cmd[0] == "quit":
            break
else:
    a, b = (int(x) for x in sys.argv[2:4])
    closers = {}
    stayers = []
    for p in (a, b):
        for _ in range(5):
            c = socket.create_connection(("127.0.0.1", p))
            c.shutdown(socket.SHUT_WR)
            closers.setdefault(p, []).append(c)
    for _ in range(2):
        stayers.append(socket.create_connection(("127.0.0.1", a)))
    say(event="ready", closers={str(p): [c.getsockname()[1] for c in v] for p, v in closers.items()},
        stayers=[c.getsockname()[1] for c in stayers])
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "probe":  # probe PORT TIMEOUT: what each half-closed socket sees
            out = []
            for c in closers[int(cmd[1])]:
                c.settimeout(float(cmd[2]))
                try:
                    data = c.recv(100)
                    out.append("eof" if data == b"" else "data")
                except ConnectionResetError:
                    out.append("rst")
                except socket.timeout:
                    out.append("open")
                except OSError as e:
                    out.append("error:" + str(e.errno))
            say(event="probe", results=out)
        elif cmd[0] == "connect":
            try:
                socket.create_connection(("127.0.0.1", int(cmd[1])), timeout=5)
                say(event="connected", ok=True)
            except OSError as e:
                say(event="connected", ok=False, error=str(e))
        elif cmd[0] == "quit":
            break
"""


class Scene:
    """A namespace with the server and its client."""

    def __init__(self, server_user=None):
        self.netns = f"tsclose-{uuid.uuid4().hex[:8]}"
        self.server_user = server_user
        self.server = self.client = None

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        try:
            subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)
            pre = ["ip", "netns", "exec", self.netns]
            srv = [SYS_PYTHON, "-c", HELPER, "server", str(PORT_A), str(PORT_B), str(PORT_L)]
            if self.server_user is not None:
                u = str(self.server_user)
                srv = ["setpriv", f"--reuid={u}", f"--regid={u}", "--clear-groups"] + srv
            self.server = JsonHelper(pre + srv)
            ev = self.server.read()
            assert ev["event"] == "listening", ev
            self.client = JsonHelper(pre + [SYS_PYTHON, "-c", HELPER, "client", str(PORT_A), str(PORT_B)])
            self.ready = self.server.read()
            self.client_ready = self.client.read()
            self.pid = self.ready["pid"]
            cw = set(self.client_ready["closers"][str(PORT_A)])
            cwb = set(self.client_ready["closers"][str(PORT_B)])
            self.fds_a = sorted(s["fd"] for s in self.ready["socks"] if s["rport"] in cw)
            self.fds_b = sorted(s["fd"] for s in self.ready["socks"] if s["rport"] in cwb)
            assert len(self.fds_a) == 5 and len(self.fds_b) == 5, self.ready
            # Until the FINs arrive the sockets are still ESTABLISHED.
            ok = wait_until(lambda: len(self.close_wait(PORT_A)) == 5 and
                            len(self.close_wait(PORT_B)) == 5, 10)
            assert ok, "the server's sockets did not reach CLOSE_WAIT"
            ok = wait_until(self.idle_enough, 10, 0.2)
            assert ok, f"the CLOSE_WAIT sockets were not idle for {MIN_IDLE} s within 10 s"
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for p in (self.client, self.server):
            if p:
                p.stop()
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        return False

    def listed(self):
        rc, out, err = run_tcpstate(["list", "--json", "--netns", self.netns])
        if rc != 0:
            raise AssertionError(f"list failed ({rc}): {err}")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def close_wait(self, port, listed=None):
        return [s for s in (listed or self.listed())
                if s["state"] == "CLOSE_WAIT" and s["local_port"] == port]

    def idle_enough(self):
        """Every CLOSE_WAIT socket idle for MIN_IDLE s, as tcp_info tells close."""
        rc, out, err = run_tcpstate(["list", "--json", "--netns", self.netns, "--state",
                                     "close-wait"])
        socks = [json.loads(line) for line in out.splitlines() if line.strip()]
        return len(socks) == 10 and all(
            "tcp_info" in s and min(s["tcp_info"]["last_data_sent_ms"],
                                    s["tcp_info"]["last_data_recv_ms"],
                                    s["tcp_info"]["last_ack_recv_ms"]) >= MIN_IDLE * 1000
            for s in socks)

    def fd_inodes(self):
        out = {}
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                out[int(fd)] = os.readlink(f"/proc/{self.pid}/fd/{fd}")
            except FileNotFoundError:
                pass
        return out

    def close(self, *args, env=None, user=None, stdin=subprocess.DEVNULL):
        if "--min-idle" not in args:
            args = (*args, "--min-idle", str(MIN_IDLE))
        cmd = [tcpstate_path(), "close", *args]
        if user:
            cmd = ["setpriv", *user, *cmd]
        cmd = ["ip", "netns", "exec", self.netns] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, stdin=stdin)
        return r.returncode, r.stdout, r.stderr


def parse_close_json(out):
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    if not lines or "summary" not in lines[-1]:
        raise AssertionError(f"no summary line in: {out!r}")
    return lines[:-1], lines[-1]["summary"]


def state_map(listed):
    return {s["cookie"]: s["state"] for s in listed if s["cookie"]}


def untouched(before, after, spared):
    """Sockets of `before` (by cookie) other than `spared` that changed or vanished."""
    now = state_map(after)
    return [(c, st, now.get(c)) for c, st in state_map(before).items()
            if c not in spared and now.get(c) != st]


def run_method(how):
    with Scene() as sc:
        before = sc.listed()
        targets = {s["cookie"] for s in sc.close_wait(PORT_A, before)}
        client_ports = set(sc.client_ready["closers"][str(PORT_A)])
        peers = {s["cookie"] for s in before
                 if s["local_port"] in client_ports and s["remote_port"] == PORT_A}
        fds_before = sc.fd_inodes()

        rc, out, err = sc.close("--port", str(PORT_A), "--state", "close-wait", "--how", how,
                                "--yes", "--json")
        check(rc == 0, f"{how}: exit {rc}, stderr {err}")
        items, summary = parse_close_json(out)
        check(summary["done"] == 5 and summary["skipped"] == 0 and summary["failed"] == 0,
              f"{how}: summary {summary}")
        check({i["cookie"] for i in items} == targets, f"{how}: acted on {items}")
        check(all(i["result"] == "done" and i["holders"] and i["holders"][0]["pid"] == sc.pid
                  for i in items), f"{how}: results {items}")

        # The client's view of its 5 half-closed connections to A; B's are untouched.
        probe = sc.client.ask(f"probe {PORT_A} 5")["results"]
        expect = "rst" if how == "rst" else "eof"
        check(probe == [expect] * 5, f"{how}: the client saw {probe}, expected {expect}")
        probe_b = sc.client.ask(f"probe {PORT_B} 0.3")["results"]
        check(probe_b == ["open"] * 5, f"{how}: port B connections changed: {probe_b}")

        after = sc.listed()
        check(not sc.close_wait(PORT_A, after), f"{how}: CLOSE_WAIT left on port A")
        check(len(sc.close_wait(PORT_B, after)) == 5, f"{how}: port B CLOSE_WAIT count changed")
        bad = untouched(before, after, targets | peers)
        check(not bad, f"{how}: other sockets changed: {bad}")

        fds_after = sc.fd_inodes()
        if how == "fd":
            check(not set(sc.fds_a) & set(fds_after), f"fd: fds {sc.fds_a} still open")
            check(all(fds_after.get(fd) == fds_before[fd] for fd in sc.fds_b),
                  "fd: port B fds changed")
            check(os.path.exists(f"/proc/{sc.pid}") and sc.server.p.poll() is None,
                  "fd: the server died")
            acc = sc.server
            sc.client.p.stdin.write(f"connect {PORT_A}\n")
            sc.client.p.stdin.flush()
            ev = acc.ask(f"accept {PORT_A}")
            check(ev["event"] == "accepted", f"fd: the server cannot accept any more: {ev}")
            check(sc.client.read()["ok"], "fd: the client could not connect afterwards")
        else:
            # rst and fin leave the fds open in the program.
            check(all(fds_after.get(fd) == fds_before[fd] for fd in sc.fds_a),
                  f"{how}: the program's fds changed")
            gone = wait_until(lambda: {s["state"] for s in sc.listed()
                                       if s["cookie"] in targets} <= {"CLOSED"}, 5)
            check(gone, f"{how}: the 5 sockets did not end up CLOSED")

        if how == "fin":
            # The client's ends are now TIME_WAIT: no fd, so fin refuses them; rst ends them.
            rc, out, err = sc.close("--state", "time-wait", "--how", "fin", "--yes", "--json")
            items, summary = parse_close_json(out)
            check(rc == 4 and summary["skipped"] >= 1 and summary["done"] == 0,
                  f"fin on TIME_WAIT: exit {rc} {summary}")
            check(all("only --how rst" in i["reason"] for i in items),
                  f"fin on TIME_WAIT: reasons {items}")
            rc, out, err = sc.close("--state", "time-wait", "--how", "rst", "--yes", "--json")
            items, summary = parse_close_json(out)
            check(rc == 0 and summary["done"] >= 1, f"rst on TIME_WAIT: exit {rc} {summary} {err}")
            check(not [s for s in sc.listed() if s["state"] == "TIME_WAIT"],
                  "rst on TIME_WAIT left some")


def test_dry_run_and_usage():
    with Scene() as sc:
        before = sc.listed()
        rc, out, err = sc.close("--port", str(PORT_A), "--state", "close-wait", "--how", "fd",
                                "--dry-run")
        check(rc == 0, f"dry-run: exit {rc} {err}")
        for fd in sc.fds_a:
            check(f"/{sc.pid}/fd {fd}" in out, f"dry-run: holder fd {fd} not shown:\n{out}")
        check("Would act on (5)" in out and "nothing was changed" in out, f"dry-run output:\n{out}")
        rc, out, err = sc.close("--port", str(PORT_A), "--state", "close-wait", "--how", "rst",
                                "--dry-run", "--json")
        items, summary = parse_close_json(out)
        check(rc == 0 and summary["planned"] == 5 and all(i["result"] == "planned" for i in items),
              f"dry-run json: {rc} {summary}")
        check(not untouched(before, sc.listed(), set()), "dry-run changed something")
        check(sc.client.ask(f"probe {PORT_A} 0.3")["results"] == ["open"] * 5,
              "dry-run: the client saw something")

        # Refusals before anything happens.
        rc, _, err = sc.close("--port", str(PORT_A), "--how", "rst")
        check(rc == 2 and "--yes" in err, f"no --yes without a terminal: exit {rc} {err}")
        rc, _, err = sc.close("--port", str(PORT_A), "--yes")
        check(rc == 2 and "--how" in err, f"no --how: exit {rc} {err}")
        rc, _, err = sc.close("--how", "kill", "--yes")
        check(rc == 2, f"bad --how: exit {rc}")
        rc, _, err = sc.close("--how", "rst", "--backend", "procfs", "--yes")
        check(rc == 2, f"--backend procfs: exit {rc}")

        # A terminal: the prompt shows the count; "n" changes nothing.
        master, slave = pty.openpty()
        p = subprocess.Popen(["ip", "netns", "exec", sc.netns, tcpstate_path(), "close", "--port",
                              str(PORT_A), "--state", "close-wait", "--how", "rst",
                              "--min-idle", str(MIN_IDLE)],
                             stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.close(slave)
        buf = b""
        deadline = time.monotonic() + 10
        while b"[y/N]" not in buf and time.monotonic() < deadline:
            r, _, _ = select.select([p.stderr], [], [], 0.2)
            if r:
                chunk = os.read(p.stderr.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
        os.write(master, b"n\n")
        out, err = p.communicate(timeout=10)
        os.close(master)
        text = (buf + err).decode()
        check("End 5 sockets with --how rst? [y/N]" in text, f"prompt: {text}")
        check(p.returncode == 1 and "nothing was done" in text, f"declined: exit {p.returncode}")
        check(len(sc.close_wait(PORT_A)) == 5, "declined, yet sockets changed")

        # LISTEN is touched only when named.
        rc, out, err = sc.close("--port", str(PORT_L), "--how", "rst", "--yes", "--json")
        items, summary = parse_close_json(out)
        check(rc == 4 and len(items) == 1 and items[0]["state"] == "LISTEN" and
              items[0]["result"] == "skipped" and "LISTEN" in items[0]["reason"],
              f"LISTEN without --state: exit {rc} {items}")
        rc, out, err = sc.close("--port", str(PORT_L), "--state", "all", "--how", "rst", "--yes",
                                "--json")
        items, summary = parse_close_json(out)
        check(rc == 4 and summary["skipped"] == 1, f"LISTEN with --state all: exit {rc} {summary}")
        check(any(s["state"] == "LISTEN" and s["local_port"] == PORT_L for s in sc.listed()),
              "the listener went away")
        # A listener has no idle time: named, it is still skipped unless --min-idle 0.
        rc, out, err = sc.close("--port", str(PORT_L), "--state", "LISTEN", "--how", "rst",
                                "--yes", "--json")
        items, summary = parse_close_json(out)
        check(rc == 4 and summary["skipped"] == 1 and items and
              items[0]["reason"].startswith("idle time unknown"),
              f"--state LISTEN with --min-idle: exit {rc} {items}")
        rc, out, err = sc.close("--port", str(PORT_L), "--state", "LISTEN", "--how", "rst",
                                "--yes", "--json", "--min-idle", "0")
        items, summary = parse_close_json(out)
        check(rc == 0 and summary["done"] == 1, f"--state LISTEN --how rst: exit {rc} {summary} {err}")
        check("--min-idle 0" in err, f"--min-idle 0 without a warning: {err}")
        check(not any(s["state"] == "LISTEN" and s["local_port"] == PORT_L for s in sc.listed()),
              "the named listener is still listening")


def test_race(how):
    """The socket at one listed fd is swapped for another between listing and acting."""
    with Scene() as sc:
        victim, other = sc.fds_a[0], sc.fds_b[0]
        victim_cookie = None
        lst = sc.listed()
        for s in sc.close_wait(PORT_A, lst):
            if any(o["pid"] == sc.pid and o["fd"] == victim for o in s["owners"]):
                victim_cookie = s["cookie"]
        r, w = os.pipe()
        env = dict(os.environ, TCPSTATE_CLOSE_PAUSE_FD=str(r))
        cmd = ["ip", "netns", "exec", sc.netns, tcpstate_path(), "close", "--port", str(PORT_A),
               "--state", "close-wait", "--how", how, "--yes", "--json", "--min-idle", str(MIN_IDLE)]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, pass_fds=(r,))
        os.close(r)
        # Notes (e.g. the BPF owner source falling back) may come first; read the
        # fd itself, so that no line waits in a Python buffer that select() cannot see.
        line = ""
        deadline = time.monotonic() + 20
        while "paused" not in line and time.monotonic() < deadline:
            rl, _, _ = select.select([p.stderr], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(p.stderr.fileno(), 4096).decode() if rl else ""
            if not chunk:
                break
            line += chunk
        check("paused before acting on 5 sockets" in line, f"{how} race: no pause line: {line!r}")
        check(sc.server.ask(f"swap {victim} {other}")["event"] == "swapped", "swap failed")
        # The swapped-out socket was only at that fd: it closes; let it leave the tables.
        wait_until(lambda: not any(s["cookie"] == victim_cookie for s in sc.listed()), 5)
        os.write(w, b"x")
        os.close(w)
        out, err = p.communicate(timeout=30)
        items, summary = parse_close_json(out)
        check(p.returncode == 4, f"{how} race: exit {p.returncode} {err}")
        check(summary["done"] == 4 and summary["skipped"] == 1 and summary["failed"] == 0,
              f"{how} race: {summary}")
        sk = [i for i in items if i["result"] == "skipped"]
        if check(len(sk) == 1, f"{how} race: skipped {sk}"):
            check(sk[0]["cookie"] == victim_cookie, f"{how} race: skipped the wrong socket")
            want = "ENOENT" if how == "rst" else "ESTALE"
            check(sk[0]["errno"] == want, f"{how} race: errno {sk[0]['errno']}, want {want}")
            print(f"{how} race: skipped: {sk[0]['reason']}", file=sys.stderr)
        # The socket now at that fd (one of B's) is untouched.
        check(len(sc.close_wait(PORT_B)) == 5, f"{how} race: port B socket hit")
        check(sc.fd_inodes().get(victim) == sc.fd_inodes().get(other),
              f"{how} race: the swapped-in fd was closed")


def test_shared_and_doctor():
    """A socket held on two fds: --how fd closes both. And doctor's advice command
    selects exactly the sockets of its finding."""
    with Scene() as sc:
        rc, out, err = run_tcpstate(["doctor", "--netns", sc.netns, "--json", "--min-age", "0",
                                     "--close-min-idle", str(MIN_IDLE)])
        found = [f for f in json.loads(out)["findings"] if f["kind"] == "close-wait"]
        if check(len(found) == 1 and "close_commands" in found[0], f"doctor: {found}"):
            cmds = found[0]["close_commands"]
            check(f"--pid {sc.pid}" in cmds["fin"] and
                  cmds["fin"].endswith(f"--min-idle {MIN_IDLE} --how fin") and
                  cmds["fd"].endswith("--how fd") and f"--netns {sc.netns}" in cmds["fin"],
                  f"doctor commands: {cmds}")
            argv = cmds["fin"].split()
            check(argv[0] == "tcpstate", f"doctor command: {argv}")
            rc, out, err = run_tcpstate(argv[1:] + ["--dry-run", "--json"])
            items, summary = parse_close_json(out)
            check(rc == 0 and summary["planned"] == found[0]["evidence"]["count"] == 10,
                  f"doctor's command selects {summary}, finding has {found[0]['evidence']}")
        rc, out, err = run_tcpstate(["doctor", "--netns", sc.netns, "--min-age", "0",
                                     "--close-min-idle", str(MIN_IDLE)])
        check(f"tcpstate close --netns {sc.netns} --pid {sc.pid} --state close-wait "
              f"--min-idle {MIN_IDLE} --how fd" in out, f"doctor text lacks the close command:\n{out}")

        extra = sc.server.ask(f"dup {sc.fds_a[0]}")["fd"]
        rc, out, err = sc.close("--port", str(PORT_A), "--state", "close-wait", "--how", "fd",
                                "--yes", "--json")
        items, summary = parse_close_json(out)
        check(rc == 0 and summary["done"] == 5, f"shared: exit {rc} {summary} {err}")
        shared = [i for i in items if len(i["holders"]) == 2]
        if check(len(shared) == 1, f"shared: {items}"):
            check({h["fd"] for h in shared[0]["holders"]} == {sc.fds_a[0], extra} and
                  all(h["result"] == "done" for h in shared[0]["holders"]) and
                  "closed all 2 fds" in shared[0]["reason"], f"shared: {shared[0]}")
        check(not ({extra} | set(sc.fds_a)) & set(sc.fd_inodes()), "shared: fds left open")
        check(sc.client.ask(f"probe {PORT_A} 5")["results"] == ["eof"] * 5,
              "shared: the client did not see the FINs")


PTRACE_SEIZE = 0x4206
TRACER = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
if libc.ptrace(0x4206, int(sys.argv[1]), None, None) != 0:
    sys.exit("PTRACE_SEIZE failed: errno %d" % ctypes.get_errno())
print("tracing", flush=True)
sys.stdin.read()
"""


def test_refusals():
    with Scene() as sc:
        # rst as nobody: the kernel wants CAP_NET_ADMIN.
        nobody = [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        rc, out, err = sc.close("--port", str(PORT_A), "--state", "close-wait", "--how", "rst",
                                "--yes", "--json", user=nobody)
        items, summary = parse_close_json(out)
        check(rc == 1 and summary["failed"] == 5 and all(i["errno"] == "EPERM" for i in items),
              f"rst as nobody: exit {rc} {summary} {items[:1]}")
        check("CAP_NET_ADMIN" in err, f"rst as nobody: message: {err}")
        # fin as nobody: a root server's fds are not even visible.
        rc, out, err = sc.close("--port", str(PORT_A), "--state", "close-wait", "--how", "fin",
                                "--yes", "--json", user=nobody)
        items, summary = parse_close_json(out)
        check(rc == 4 and summary["skipped"] == 5 and
              all("no holder known" in i["reason"] for i in items),
              f"fin as nobody (root server): exit {rc} {summary}")

        # A traced server: --how fd refuses it.
        tracer = subprocess.Popen([SYS_PYTHON, "-c", TRACER, str(sc.pid)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = tracer.stdout.readline()
            check(line.strip() == "tracing", f"tracer: {line} {tracer.stderr.read() if not line else ''}")
            rc, out, err = sc.close("--port", str(PORT_A), "--state", "close-wait", "--how", "fd",
                                    "--yes", "--json")
            items, summary = parse_close_json(out)
            check(rc == 4 and summary["skipped"] == 5 and all(i["errno"] == "EBUSY" for i in items),
                  f"fd on a traced process: exit {rc} {summary} {items[:1]}")
            check(all(fd in sc.fd_inodes() for fd in sc.fds_a), "fd on a traced process closed fds")
        finally:
            tracer.kill()
            tracer.wait(5)
        check(len(sc.close_wait(PORT_A)) == 5, "refusals changed port A")

    # fin/fd without the right to copy or trace: a server running as nobody, and
    # tcpstate with fsuid nobody (it can read the server's /proc fds) but a real
    # uid that is not (pidfd_getfd and ptrace check the real uid): EPERM per socket.
    with Scene(server_user=NOBODY) as sc:
        split = [f"--ruid={NOBODY - 1}", f"--euid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        for how in ("fin", "fd"):
            rc, out, err = sc.close("--port", str(PORT_A), "--state", "close-wait", "--how", how,
                                    "--yes", "--json", user=split)
            items, summary = parse_close_json(out)
            check(rc == 1 and summary["failed"] == 5 and
                  all(i["errno"] == "EPERM" and i["holders"][0]["errno"] == "EPERM" for i in items),
                  f"{how} without ptrace rights: exit {rc} {summary} {items[:1]} {err}")
        check(len(sc.close_wait(PORT_A)) == 5, "unprivileged attempts changed port A")


def main():
    skip_unless_root()
    need_programs("setpriv")
    only = sys.argv[1:]
    tests = [("dry-run/usage", test_dry_run_and_usage)]
    tests += [(f"method {m}", lambda m=m: run_method(m)) for m in ("rst", "fin", "fd")]
    tests += [(f"race {m}", lambda m=m: test_race(m)) for m in ("rst", "fin", "fd")]
    tests += [("shared/doctor", test_shared_and_doctor), ("refusals", test_refusals)]
    run_named(tests, "close", only)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()
