# SPDX-License-Identifier: MIT
"""Shared helpers for tcpstate integration tests.

    from tslab import Lab, skip_unless_root, run_tcpstate, wait_until

    skip_unless_root()
    with Lab(states=["CLOSE_WAIT"]) as lab:
        rc, out, err = run_tcpstate(["list", "--netns", lab.netns, "--json"])
        for s in lab.targets(): ...

A Lab runs `$TCPSTATE lab --json --hold 600 ...`, reads its JSON Lines until
"ready", and on exit ends it with SIGINT and checks that nothing is left
(namespace, processes). Each socket dict carries the fields of the "socket"
event: state, target, scenario, family, local_addr, local_port, remote_addr,
remote_port, pid, fd, how, lasts.

The one harness of every test_*.py here: check() records a failure and goes
on, run_named() runs named tests each on its own, finish() ends the script
(exit 1 when anything failed). Exit 77 (skip) only when the machine cannot
run the test at all (not root, no network namespaces: skip_unless_root()) or
the build was configured without the feature (bpf_option() == "disabled").
A probe that fails anywhere else (a missing program, an option gone, a BPF
program that does not load) is a failure: fatal() or check().
"""

import json
import select
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time

SKIP = 77


def _terminated(signum, frame):
    """meson's timeout sends SIGTERM: unwind, so that every `with` and `finally`
    removes its namespaces and processes (a bare SIGTERM would leave them)."""
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _terminated)

ALL_STATES = [
    "BOUND", "CLOSED", "CLOSING", "CLOSE_WAIT", "ESTABLISHED", "FIN_WAIT_1",
    "FIN_WAIT_2", "IDLE", "LAST_ACK", "LISTEN", "SYN_RECEIVED", "SYN_SENT",
    "TIME_WAIT",
]


# Checks that record a failure and go on, so one run reports every broken
# expectation; a script's main() fails when `failures` is not empty.
failures = []


def check(cond, msg):
    """Records msg as a failure when cond is false; returns cond (for guards)."""
    if not cond:
        failures.append(msg)
        print(f"FAIL: {msg}", file=sys.stderr)
    return cond


def run_named(tests, what, only=(), catch=(AssertionError,)):
    """run_each(), then finish(what)."""
    run_each(tests, only, catch)
    finish(what)


def run_each(tests, only=(), catch=(AssertionError,)):
    """Runs (name, fn) pairs (those whose name contains one of `only`, when
    given), each failing on its own: an exception in `catch` is a failed check.
    Prints ok/FAILED per test; returns (for scripts that clean up before finish())."""
    for name, fn in tests:
        if only and not any(o in name for o in only):
            continue
        n = len(failures)
        start = time.monotonic()
        try:
            fn()
        except catch as e:
            check(False, f"{name}: {type(e).__name__}: {e}")
        print(f"{'ok' if len(failures) == n else 'FAILED'}: {name} "
              f"({time.monotonic() - start:.1f} s)", file=sys.stderr)


def finish(what):
    """Ends the script: exit 1 naming the count when any check failed, else 0."""
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print(f"all {what} tests passed", file=sys.stderr)
    sys.exit(0)


def fatal(msg):
    """A failure after which the rest of the script cannot run (a probe that
    failed on a machine that should pass it): exit 1, never 77."""
    check(False, msg)
    print(f"{len(failures)} failure(s); the rest was not run", file=sys.stderr)
    sys.exit(1)


class JsonHelper:
    """A helper process speaking JSON lines: one JSON object per line out,
    commands as lines in."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)

    def read(self, timeout=15):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            raise AssertionError(f"helper {self.p.args[-4:]} said nothing in {timeout} s")
        line = self.p.stdout.readline()
        if not line:
            raise AssertionError(f"helper ended: {self.p.stderr.read()}")
        return json.loads(line)

    def say(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def ask(self, cmd, timeout=15):
        self.say(cmd)
        return self.read(timeout)

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(5)


def skip(msg):
    """Exit 77. Only for what skip_unless_root() and bpf_option() tell: see the
    module's docstring."""
    print(f"SKIP: {msg}", file=sys.stderr)
    sys.exit(SKIP)


def tcpstate_path():
    path = os.environ.get("TCPSTATE")
    if not path:
        fatal("TCPSTATE is not set (run through meson test)")
    return path


def bpf_option():
    """meson's -Dbpf for this build ("auto", "enabled", "disabled"), from
    TCPSTATE_BPF_OPTION (tests/integration/meson.build sets it)."""
    option = os.environ.get("TCPSTATE_BPF_OPTION")
    if option not in ("auto", "enabled", "disabled"):
        fatal(f"TCPSTATE_BPF_OPTION is {option!r}, want auto, enabled or disabled "
              "(run through meson test)")
    return option


def need_programs(*names):
    """Fails (exit 1) naming the programs (or paths) that are missing:
    scripts/install-deps.sh installs every one the tests use."""
    missing = [n for n in names if not shutil.which(n) and not os.path.exists(n)]
    if missing:
        fatal(f"missing {', '.join(missing)}: run scripts/install-deps.sh")


def skip_unless_root():
    """Exit 77 unless we are root and can create network namespaces."""
    if os.geteuid() != 0:
        skip("needs root")
    if not os.path.exists("/proc/self/ns/net"):
        skip("no network namespace support")
    name = f"tsprobe-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True)
    if r.returncode != 0:
        skip(f"cannot create a network namespace: {r.stderr.decode().strip()}")
    subprocess.run(["ip", "netns", "del", name], capture_output=True)


def wait_until(pred, timeout, interval=0.05):
    """Polls pred() until it returns a true value (returned) or timeout (returns None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def netns_exists(name):
    return os.path.exists(f"/run/netns/{name}")


def lab_lock_exists(name):
    """The lock a live lab's supervisor holds (see lib/lab/lab_cleanup.c)."""
    return os.path.exists(f"/run/tcpstate/{name}.lock")


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def run_tcpstate(args, timeout=30, netns=None):
    """Runs tcpstate (inside `ip netns exec NETNS` when given): (rc, stdout, stderr)."""
    cmd = [tcpstate_path()] + list(args)
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def ss(netns, *args):
    """`ss -tanH ARGS` inside netns: a list of split lines."""
    r = subprocess.run(["ip", "netns", "exec", netns, "ss", "-tanH", *args],
                       capture_output=True, text=True, timeout=10, check=True)
    return [line.split() for line in r.stdout.splitlines() if line.strip()]


# Runs inside the namespace (python 3.11 has no os.setns): a raw sock_diag dump.
_DIAG_SNIPPET = r"""
import json, socket, struct, sys
states = int(sys.argv[1])
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 4)
out = []
for family in (socket.AF_INET, socket.AF_INET6):
    # inet_diag_req_v2: family, protocol, ext, pad, states, then a zero inet_diag_sockid
    req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, states) + bytes(48)
    s.send(struct.pack("=IHHII", 16 + len(req), 20, 0x301, 1, 0) + req)
    done = False
    while not done:
        buf = s.recv(1 << 16)
        off = 0
        while off + 16 <= len(buf):
            ln, typ = struct.unpack_from("=IH", buf, off)
            if typ == 3:
                done = True
                break
            if typ == 2:
                sys.exit("sock_diag error %d" % struct.unpack_from("=i", buf, off + 16))
            st = buf[off + 17]
            sport, dport = struct.unpack_from(">HH", buf, off + 20)
            inode = struct.unpack_from("=I", buf, off + 16 + 68)[0]
            out.append({"kstate": st, "sport": sport, "dport": dport, "inode": inode})
            off += (ln + 3) & ~3
print(json.dumps(out))
"""

TCP_BOUND_INACTIVE = 13


def diag_dump(netns, kernel_states=(1 << 14) - 2):
    """Sockets the kernel dumps in netns for a mask of kernel states (1 << TCP_*):
    [{"kstate", "sport", "dport", "inode"}]. The default includes TCP_BOUND_INACTIVE."""
    r = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", _DIAG_SNIPPET,
                        str(kernel_states)], capture_output=True, text=True, timeout=10,
                       check=True)
    return json.loads(r.stdout)


class Netns:
    """A fresh network namespace named PREFIX-<8 hex digits>, with lo up unless lo=False.
    On exit the processes put in .procs are ended (stop() for JsonHelper-like objects,
    stdin closed then kill for Popen) and the namespace is removed, even after a failure."""

    def __init__(self, prefix="tsns", lo=True):
        self.name = f"{prefix}-{os.urandom(4).hex()}"
        self.lo = lo
        self.procs = []

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            if self.lo:
                subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            if hasattr(p, "stop"):
                p.stop()
                continue
            try:
                if p.stdin:
                    p.stdin.close()
                p.wait(timeout=10)
            except Exception:
                p.kill()
                p.wait()
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        return False


class LabError(AssertionError):
    pass


class Lab:
    """A running `tcpstate lab`. Use as a context manager."""

    def __init__(self, states=None, count=1, leak=None, extra_args=(), hold=600,
                 ready_timeout=30):
        self.args = [tcpstate_path(), "lab", "--json", "--hold", str(hold)]
        if count != 1:
            self.args += ["--count", str(count)]
        if leak:
            self.args += ["--leak", str(leak)]
        self.args += list(extra_args)
        self.args += list(states or [])
        self.ready_timeout = ready_timeout
        self.proc = None
        self.netns = None
        self.events = []     # every event read so far, in order
        self.sockets = []    # "socket" events
        self.leak = None     # the "leak" event
        self.exit_event = None
        self._buf = b""
        self._sel = None

    # -- lifecycle --

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop(check=exc_type is None)
        return False

    def start(self):
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            ev = self.wait_event(lambda e: e["event"] in ("ready", "exit"),
                                 self.ready_timeout)
            if ev is None:
                raise LabError(f"lab not ready in {self.ready_timeout} s")
            if ev["event"] == "exit":
                raise LabError(f"lab exited before ready: {ev}; stderr: {self.stderr()}")
        except BaseException:
            self.stop(check=False)
            raise

    def stop(self, sig=signal.SIGINT, timeout=15, check=True):
        """Ends the lab with sig; returns its exit code. Cleans up whatever it left."""
        if self.proc is None:
            return None
        if self._sel is None:  # already stopped
            return self.proc.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.wait_exit(timeout)
        if rc is None:
            self.proc.kill()
            rc = self.proc.wait(5)
        self.read_events(0)
        self._sel.close()
        self._sel = None
        leftovers = self.leftovers()
        self._safety_net()
        if check and leftovers:
            raise LabError(f"lab left behind: {leftovers}")
        return rc

    def wait_exit(self, timeout):
        """Waits for the lab process to end, reading its events meanwhile."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.read_events(min(left, 0.1))
        self._drain()
        return self.proc.returncode

    def _drain(self):
        # The process is gone: everything it wrote is in the pipe, up to EOF.
        if self._sel is None:
            return
        while True:
            try:
                chunk = self.proc.stdout.read()
            except BlockingIOError:
                chunk = None
            if not chunk:
                break
            self._buf += chunk
        self.read_events(0)

    def leftovers(self):
        left = []
        if self.netns and netns_exists(self.netns):
            left.append(f"namespace {self.netns}")
        if self.netns and lab_lock_exists(self.netns):
            left.append(f"lock file of {self.netns}")
        for pid in self.pids:
            if pid_alive(pid):
                left.append(f"process {pid}")
        return left

    def _safety_net(self):
        for pid in self.pids:
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.netns and netns_exists(self.netns):
            subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        if self.netns and lab_lock_exists(self.netns):
            os.unlink(f"/run/tcpstate/{self.netns}.lock")

    # -- events --

    def read_events(self, timeout):
        """Reads whatever complete lines arrive within timeout; returns the new events."""
        new = []
        if self._sel is None or self.proc.stdout.closed:
            return new
        if self._sel.select(timeout):
            try:
                chunk = self.proc.stdout.read()
            except BlockingIOError:
                chunk = b""
            if chunk:
                self._buf += chunk
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            if line.strip():
                new.append(self._add(json.loads(line)))
        return new

    def _add(self, ev):
        self.events.append(ev)
        kind = ev["event"]
        if kind == "netns":
            self.netns = ev["name"]
        elif kind == "socket":
            self.sockets.append(ev)
        elif kind == "leak":
            self.leak = ev
        elif kind == "exit":
            self.exit_event = ev
        return ev

    def wait_event(self, pred, timeout):
        """Returns the first event (past or future) matching pred, or None at the deadline."""
        for ev in self.events:
            if pred(ev):
                return ev
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            for ev in self.read_events(max(0.0, min(0.2, left))):
                if pred(ev):
                    return ev
            if self.proc.poll() is not None:
                for ev in self.read_events(0):
                    if pred(ev):
                        return ev
                return None
            if left <= 0:
                return None

    def stderr(self):
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read().decode(errors="replace")

    # -- what was built --

    @property
    def pids(self):
        """Every pid the lab reported (holder, leak server and client)."""
        pids = {s["pid"] for s in self.sockets if s.get("pid")}
        if self.leak:
            pids |= {self.leak["server_pid"], self.leak["client_pid"]}
        return sorted(pids)

    def targets(self, state=None):
        return [s for s in self.sockets if s["target"] and (state is None or s["state"] == state)]

    def peers(self):
        return [s for s in self.sockets if not s["target"]]
