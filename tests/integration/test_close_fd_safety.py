# SPDX-License-Identifier: MIT
"""`tcpstate close --how fd` never leaves its target hijacked.

The target (in a throwaway namespace) holds a CLOSE_WAIT socket with SO_LINGER
on, and answers "ping" on stdin with its open fds; a SIGTERM handler says
"term". Its peer, in the same process, never reads. Two ways to make the
injected close() block:

  queued   the socket has data the peer never takes: tcpstate must refuse
           before touching the process, and say why;
  dropped  nothing queued, but nftables drops the socket's FIN, so close()
           waits for an ACK that never comes (the check cannot foresee it):
           tcpstate must interrupt it and restore the process, when its
           deadline passes, when it gets SIGINT/SIGTERM itself, when the
           target is signalled meanwhile, or when the target is killed.

After each: the target's SigBlk (/proc/PID/status) is what it was, it is not
traced, it still answers and still handles SIGTERM; the report says what
happened to the fd, and the fd is there or not accordingly.
"""

import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import (check, need_programs, pid_alive, run_named, skip, skip_unless_root,  # noqa: E402
                   tcpstate_path, wait_until)

PORT = 7201
SYS_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
NR_CLOSE = {"x86_64": 3, "aarch64": 57}.get(os.uname().machine)
# PTRACE_SETSIGMASK of all ones: the kernel keeps SIGKILL and SIGSTOP out.
ALL_BLOCKED = "fffffffffffbfeff"

TARGET = r"""
import json, os, signal, socket, struct, sys
port, linger, fill, count = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "fill", int(sys.argv[4])

def say(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()

signal.signal(signal.SIGTERM, lambda s, f: say(event="term"))
lst = socket.socket()
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(("127.0.0.1", port))
lst.listen(4)
keep = []
for _ in range(count):
    peer = socket.create_connection(("127.0.0.1", port))  # never reads
    srv, _ = lst.accept()
    peer.shutdown(socket.SHUT_WR)  # srv goes CLOSE_WAIT
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, linger))
    sent = 0
    if fill:
        srv.setblocking(False)
        try:
            while True:
                sent += srv.send(b"x" * 65536)
        except BlockingIOError:
            pass
        srv.setblocking(True)
    keep += [peer, srv]
    say(event="socket", fd=srv.fileno(), inode=os.fstat(srv.fileno()).st_ino, sent=sent)
say(event="ready", pid=os.getpid())
for line in sys.stdin:
    if line.strip() == "ping":
        links = {}
        for x in os.listdir("/proc/self/fd"):
            try:
                links[x] = os.readlink("/proc/self/fd/" + x)
            except OSError:
                pass  # the directory's own fd
        say(event="pong", links=links)
    elif line.strip() == "quit":
        os._exit(0)  # no close() of the sockets left: SO_LINGER would block it
"""


def status(pid):
    """Fields of /proc/PID/status, or {} when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except (FileNotFoundError, ProcessLookupError):
        return {}


def syscall(pid):
    """/proc/PID/syscall: the number and arguments of the syscall it is blocked in."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            return f.read()
    except OSError:
        return ""


class Target:
    """A namespace, the target process in it, and (dropped) the nftables rule."""

    def __init__(self, fill, drop_fin, count=1):
        self.netns = f"tsfdsafe-{uuid.uuid4().hex[:8]}"
        self.fill, self.drop_fin, self.count = fill, drop_fin, count
        self.p = None

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        try:
            subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)
            self.p = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, SYS_PYTHON, "-c", TARGET, str(PORT), "60",
                 "fill" if self.fill else "nofill", str(self.count)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.buf = b""  # what was read from its stdout, not yet a line
            self.socks = [self.read() for _ in range(self.count)]  # {"fd", "inode", "sent"}
            assert all(ev["event"] == "socket" and (ev["sent"] > 0 or not self.fill)
                       for ev in self.socks), self.socks
            ev = self.read()
            assert ev["event"] == "ready", ev
            self.pid = ev["pid"]
            if self.drop_fin:
                rules = ("table inet tsdrop {\n chain out {\n  type filter hook output priority 0;\n"
                         f"  tcp sport {PORT} drop\n }}\n}}\n")
                subprocess.run(["ip", "netns", "exec", self.netns, "nft", "-f", "-"], input=rules,
                               text=True, check=True)
            self.sigblk = status(self.pid)["SigBlk"]
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait(5)
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        return False

    def read(self, timeout=10):
        """The target's next line (unbuffered reads: two lines may come at once)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            r, _, _ = select.select([self.p.stdout], [], [], max(0, deadline - time.monotonic()))
            if not r:
                raise AssertionError(f"the target said nothing in {timeout} s")
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"the target ended: {self.p.stderr.read()}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def ask(self, cmd, timeout=10):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.read(timeout)

    def start_close(self, ignore=None):
        """`tcpstate close --how fd` on the target's socket, started (not waited for),
        with the signal `ignore` ignored (as nohup does)."""
        cmd = ["ip", "netns", "exec", self.netns, tcpstate_path(), "close", "--pid", str(self.pid),
               "--sport", str(PORT), "--state", "close-wait", "--how", "fd", "--yes", "--json",
               "--min-idle", "0"]  # the sockets are fresh on purpose
        pre = (lambda: signal.signal(ignore, signal.SIG_IGN)) if ignore else None
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, preexec_fn=pre)

    def in_injected_close(self):
        """While tcpstate holds the target blocked in a close() it injected on one of
        the sockets: that socket ({"fd", "inode", "sent"}); else None."""
        st = status(self.pid)
        if st.get("TracerPid", "0") == "0" or st.get("SigBlk") != ALL_BLOCKED:
            return None
        call = syscall(self.pid)
        return next((s for s in self.socks if call.startswith(f"{NR_CLOSE} {s['fd']:#x} ")), None)

    def check_restored(self, name, fd_open, others_open=True, first=None):
        """The target is itself again: mask, not traced, answers, fds as reported
        (the socket `first`'s, default the first one's: fd_open; the others':
        others_open)."""
        first = first or self.socks[0]
        st = status(self.pid)
        check(st.get("SigBlk") == self.sigblk,
              f"{name}: SigBlk {st.get('SigBlk')}, was {self.sigblk}")
        check(st.get("TracerPid") == "0", f"{name}: still traced by {st.get('TracerPid')}")
        check(st.get("SigPnd") == "0000000000000000" and st.get("ShdPnd") == "0000000000000000",
              f"{name}: signals left pending: {st.get('SigPnd')} {st.get('ShdPnd')}")
        links = self.ask("ping")["links"]
        held = links.get(str(first["fd"])) == f"socket:[{first['inode']}]"
        check(held == fd_open,
              f"{name}: fd {first['fd']} {'closed' if fd_open else 'still open'} in the target")
        for s in self.socks:
            if s is first:
                continue
            held = links.get(str(s["fd"])) == f"socket:[{s['inode']}]"
            check(held == others_open, f"{name}: fd {s['fd']} open: {held}, want {others_open}")

    def check_handles_sigterm(self, name):
        os.kill(self.pid, signal.SIGTERM)
        ev = self.read()
        check(ev.get("event") == "term", f"{name}: the target's SIGTERM handler did not run: {ev}")
        self.p.stdin.write("quit\n")
        self.p.stdin.flush()
        rc = self.p.wait(10)
        check(rc == 0, f"{name}: the target exited {rc}")


def parse(out):
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    if not lines or "summary" not in lines[-1]:
        raise AssertionError(f"no summary line in: {out!r}")
    return lines[:-1], lines[-1]["summary"]


def one_holder(name, items):
    if not check(len(items) == 1 and len(items[0]["holders"]) == 1, f"{name}: items {items}"):
        raise AssertionError(f"{name}: not one socket with one holder")
    return items[0], items[0]["holders"][0]


def test_linger_refused():
    """Queued data to a peer that does not read: refused, the process untouched."""
    name = "linger refused"
    with Target(fill=True, drop_fin=False) as t:
        p = t.start_close()
        out, err = p.communicate(timeout=60)
        items, summary = parse(out)
        it, h = one_holder(name, items)
        check(p.returncode == 4 and it["result"] == "skipped" and it["errno"] == "EAGAIN",
              f"{name}: exit {p.returncode}, {it['result']} {it['errno']}: {it['reason']} {err}")
        check("SO_LINGER" in it["reason"] and "would block" in it["reason"],
              f"{name}: reason {it['reason']}")
        t.check_restored(name, fd_open=True)

        # The way out the reason gives: rst now, then fd closes it without waiting.
        cmd = ["ip", "netns", "exec", t.netns, tcpstate_path(), "close", "--pid", str(t.pid),
               "--sport", str(PORT), "--how", "rst", "--yes", "--json", "--min-idle", "0"]
        r = subprocess.run(cmd + ["--state", "close-wait"], capture_output=True, text=True,
                           timeout=30)
        _, summary = parse(r.stdout)
        check(r.returncode == 0 and summary["done"] == 1, f"{name}: rst: {r.returncode} {r.stdout}")
        cmd[cmd.index("rst")] = "fd"
        r = subprocess.run(cmd + ["--state", "closed"], capture_output=True, text=True, timeout=30)
        items, summary = parse(r.stdout)
        check(r.returncode == 0 and summary["done"] == 1,
              f"{name}: fd after rst: {r.returncode} {r.stdout} {r.stderr}")
        t.check_restored(f"{name}, after rst and fd", fd_open=False)
        t.check_handles_sigterm(name)


def test_deadline():
    """close() blocks past the deadline: interrupted, restored, reported as closed."""
    name = "deadline"
    with Target(fill=False, drop_fin=True) as t:
        p = t.start_close()
        out, err = p.communicate(timeout=60)
        items, summary = parse(out)
        it, h = one_holder(name, items)
        check(p.returncode == 0 and it["result"] == "done" and h["result"] == "done",
              f"{name}: exit {p.returncode}, {it['result']}: {it['reason']} {err}")
        check("still blocked after 5 s" in h["detail"] and "released" in h["detail"],
              f"{name}: detail {h['detail']}")
        check("still blocked after 5 s" in it["reason"], f"{name}: reason {it['reason']}")
        t.check_restored(name, fd_open=False)
        t.check_handles_sigterm(name)


def test_tcpstate_signalled(*sigs):
    """tcpstate gets SIGINT or SIGTERM (or both) mid-injection: it restores the target,
    reports, then exits 128 + the signal (the lower one: Linux takes it first)."""
    names = "+".join(signal.Signals(sig).name for sig in sigs)
    name, first = f"tcpstate got {names}", min(sigs)
    with Target(fill=False, drop_fin=True) as t:
        p = t.start_close()
        inside = wait_until(t.in_injected_close, 20)
        check(inside, f"{name}: the target was never seen in the injected close()")
        for sig in sigs:
            p.send_signal(sig)
        out, err = p.communicate(timeout=60)
        check(p.returncode == 128 + first, f"{name}: exit {p.returncode}, want {128 + first}: {err}")
        check(f"interrupted by {signal.Signals(first).name}" in err, f"{name}: stderr {err}")
        items, summary = parse(out)
        it, h = one_holder(name, items)
        check(it["result"] == "done" and "asked to stop" in h["detail"] and
              "released" in h["detail"], f"{name}: {it['result']}: {h['detail']}")
        check(summary["exit"] == 128 + first, f"{name}: summary {summary}")
        t.check_restored(name, fd_open=False)
        t.check_handles_sigterm(name)


def test_rest_not_tried():
    """SIGINT while the first of two sockets blocks: the second is not tried."""
    name = "rest not tried"
    with Target(fill=False, drop_fin=True, count=2) as t:
        p = t.start_close()
        first = wait_until(t.in_injected_close, 20)
        check(first, f"{name}: never seen in the injected close()")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        items, summary = parse(out)
        check(p.returncode == 130 and summary["done"] == 1 and summary["skipped"] == 1,
              f"{name}: exit {p.returncode} {summary} {err}")
        rest = [i for i in items if i["result"] == "skipped"]
        check(len(rest) == 1 and rest[0]["errno"] == "EINTR" and "not tried" in rest[0]["reason"]
              and first and rest[0]["inode"] != first["inode"], f"{name}: {rest}")
        check("1 not tried" in err, f"{name}: stderr {err}")
        t.check_restored(name, fd_open=False, others_open=True, first=first)
        t.check_handles_sigterm(name)


def test_tcpstate_nohup():
    """An ignored SIGHUP (nohup) mid-injection changes nothing: the deadline ends the wait."""
    name = "nohup tcpstate got SIGHUP"
    with Target(fill=False, drop_fin=True) as t:
        p = t.start_close(ignore=signal.SIGHUP)
        check(wait_until(t.in_injected_close, 20), f"{name}: never seen in the injected close()")
        p.send_signal(signal.SIGHUP)
        out, err = p.communicate(timeout=60)
        items, summary = parse(out)
        it, h = one_holder(name, items)
        check(p.returncode == 0 and "still blocked after 5 s" in h["detail"],
              f"{name}: exit {p.returncode}, {h['detail']} {err}")
        t.check_restored(name, fd_open=False)


def test_target_signalled():
    """The target gets SIGTERM mid-injection: it is handled once the target is restored."""
    name = "target signalled"
    with Target(fill=False, drop_fin=True) as t:
        p = t.start_close()
        check(wait_until(t.in_injected_close, 20), f"{name}: never seen in the injected close()")
        os.kill(t.pid, signal.SIGTERM)
        out, err = p.communicate(timeout=60)
        items, summary = parse(out)
        it, h = one_holder(name, items)
        check(p.returncode == 0 and it["result"] == "done", f"{name}: exit {p.returncode} {it}")
        ev = t.read()
        check(ev.get("event") == "term", f"{name}: the SIGTERM sent meanwhile was not handled: {ev}")
        t.check_restored(name, fd_open=False)
        t.check_handles_sigterm(name)


def test_target_killed():
    """The target is killed mid-injection: tcpstate says so and ends."""
    name = "target killed"
    with Target(fill=False, drop_fin=True) as t:
        p = t.start_close()
        check(wait_until(t.in_injected_close, 20), f"{name}: never seen in the injected close()")
        os.kill(t.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=60)
        items, summary = parse(out)
        it, h = one_holder(name, items)
        check(p.returncode == 4 and it["result"] == "skipped" and h["errno"] == "ESRCH" and
              "exited" in h["detail"], f"{name}: exit {p.returncode} {it} {err}")
        check(wait_until(lambda: not pid_alive(t.pid), 10), f"{name}: the target is still there")


def main():
    skip_unless_root()
    need_programs("nft")
    if NR_CLOSE is None:  # lib's ptrace_close-arch.h: no --how fd in a build for this arch
        skip("close --how fd is not supported on this architecture")
    only = sys.argv[1:]
    tests = [("linger refused", test_linger_refused), ("deadline", test_deadline),
             ("tcpstate SIGINT", lambda: test_tcpstate_signalled(signal.SIGINT)),
             ("tcpstate SIGTERM", lambda: test_tcpstate_signalled(signal.SIGTERM)),
             ("tcpstate SIGINT+SIGTERM",
              lambda: test_tcpstate_signalled(signal.SIGINT, signal.SIGTERM)),
             ("rest not tried", test_rest_not_tried), ("nohup SIGHUP", test_tcpstate_nohup), ("target signalled", test_target_signalled), ("target killed", test_target_killed)]
    run_named(tests, "close --how fd safety", only, catch=(AssertionError, subprocess.TimeoutExpired))


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()
