# SPDX-License-Identifier: MIT
"""The two owner sources of `tcpstate list` (issue 5): the BPF iter/task_file
program (`--owners bpf`) and the /proc walk (`--owners proc`) must give the
same owners, keyed by socket inode -> {(pid, fd)}, for

  - the lab's sockets (all 13 states),
  - a few thousand generated sockets (bench/sockgen, when built),
  - a socket shared by a forked child (both owners; a second thread in each
    process must not add a duplicate owner),
  - several namespaces at once (`--all-netns`, restricted to ours),
  - a pid namespace: tcpstate run inside `unshare --pid --fork --mount-proc`
    reports pids as seen there, and only that namespace's processes,
  - a forced failure: BPF forbidden (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN
    dropped from the bounding set): `--owners auto` gives the /proc answer with
    exactly one notice on stderr, `--owners bpf` exits 1 with a message.

Only sockets with owners are compared (TIME_WAIT and request sockets have
none); a comparison is retried until a deadline, because the lab re-creates
some states and sockets can change between the two runs.

Skips (exit 77) only where the machine or the build cannot have the BPF
source: a build configured with -Dbpf=disabled, or built where the kernel had
no BTF (then only the /proc fallback is checked, and a failure there still
fails the test), or a running kernel without BTF. Fails when --owners is
missing, when -Dbpf=auto|enabled on a kernel with BTF did not build it, and
when the BPF owner source does not load on a kernel with BTF (with its error).
"""

import json
import os
import secrets
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import (bpf_option, check, failures, fatal, finish, Lab, netns_exists,  # noqa: E402
                   run_each, skip, skip_unless_root, tcpstate_path, wait_until)

NOTICE = "BPF owner source"
COMPARE_DEADLINE = 15.0
# Runs tcpstate with BPF forbidden but /proc readable: no CAP_BPF, CAP_PERFMON,
# CAP_SYS_ADMIN (root's exec gets the bounding set as its permitted set, so
# dropping them there drops them from tcpstate); CAP_SYS_PTRACE and
# CAP_DAC_READ_SEARCH stay, so /proc/PID/fd of every process is readable.
NO_BPF = ["setpriv", "--inh-caps=-all", "--bounding-set=-bpf,-perfmon,-sys_admin"]


def run(argv, timeout=120, netns=None, prefix=()):
    """(rc, stdout, stderr) of tcpstate ARGV, optionally inside `ip netns exec` and a prefix."""
    cmd = list(prefix) + [tcpstate_path()] + list(argv)
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def parse_list(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def owner_map(sockets, namespaces=None):
    """inode -> frozenset((pid, fd)) for the sockets that have owners (and are
    in one of `namespaces`, by name, when given)."""
    m = {}
    for s in sockets:
        if not s["owners"] or not s["inode"]:
            continue
        if namespaces is not None and s["netns"] not in namespaces:
            continue
        m[s["inode"]] = frozenset((o["pid"], o["fd"]) for o in s["owners"])
    return m


def list_owners(source, args=(), netns=None, prefix=(), namespaces=None):
    """Runs `list --json --owners SOURCE ARGS`: (owner map, sockets); raises on failure."""
    rc, out, err = run(["list", "--json", "--owners", source, *args], netns=netns, prefix=prefix)
    if rc != 0:
        raise AssertionError(f"list --owners {source} {' '.join(args)} exited {rc}: {err.strip()}")
    sockets = parse_list(out)
    return owner_map(sockets, namespaces), sockets


def diff(a, b, name_a="bpf", name_b="proc", limit=8):
    lines = []
    for ino in sorted(set(a) | set(b)):
        if a.get(ino) != b.get(ino):
            lines.append(f"inode {ino}: {name_a} {sorted(a.get(ino, ()))} "
                         f"{name_b} {sorted(b.get(ino, ()))}")
    more = len(lines) - limit
    return lines[:limit] + ([f"... and {more} more"] if more > 0 else [])


def compare(label, args=(), netns=None, namespaces=None, must_have=(), min_sockets=1):
    """BPF and /proc owner maps are equal (retried until a deadline). must_have:
    (pid, fd) pairs that must appear in both; min_sockets: owned sockets at
    least, so that two empty answers never pass. Returns the last /proc map."""
    deadline = time.monotonic() + COMPARE_DEADLINE
    attempt = 0
    while True:
        attempt += 1
        bpf, _ = list_owners("bpf", args, netns=netns, namespaces=namespaces)
        proc, _ = list_owners("proc", args, netns=netns, namespaces=namespaces)
        if bpf == proc or time.monotonic() >= deadline:
            break
        time.sleep(0.3)
    ok = check(bpf == proc, f"{label}: BPF and /proc owners differ after {attempt} tries: "
               + "; ".join(diff(bpf, proc)))
    pairs = {p for v in proc.values() for p in v}
    bpairs = {p for v in bpf.values() for p in v}
    for p in must_have:
        check(p in pairs and p in bpairs, f"{label}: owner {p} missing (bpf {p in bpairs}, "
              f"proc {p in pairs})")
    check(len(proc) >= min_sockets, f"{label}: only {len(proc)} owned sockets, want >= {min_sockets}")
    if ok:
        print(f"   {label}: {len(proc)} owned sockets, "
              f"{sum(len(v) for v in proc.values())} owners agree (try {attempt})", file=sys.stderr)
    return proc


# -- what the build offers --

def owners_support():
    """'built' or 'not built', as --version says; fails when --owners is refused."""
    rc, out, err = run(["--version"])
    text = out + err
    rc2, _, err2 = run(["list", "--owners", "proc", "--state", "listen"])
    if rc2 != 0:
        fatal(f"list --owners proc --state listen: exit {rc2}: {err2.strip()}")
    if "BPF owner source: not built" in text:
        return "not built"
    if "BPF owner source: built" in text:
        return "built"
    check(False, f"--version has no 'BPF owner source: built|not built' line: {text!r}")
    return "built"


# -- the checks --

def test_verbose_and_version(lab):
    for source in ("bpf", "proc"):
        rc, out, err = run(["list", "-v", "--owners", source], netns=lab.netns)
        check(rc == 0 and f"owners: {source}" in err,
              f"-v --owners {source}: exit {rc}, stderr {err!r} lacks 'owners: {source}'")
    rc, out, err = run(["list", "--verbose"], netns=lab.netns)
    check(rc == 0 and "owners: bpf" in err, f"--verbose, auto as root: {rc} {err!r} lacks 'owners: bpf'")
    rc, out, err = run(["list"], netns=lab.netns)
    check(rc == 0 and NOTICE not in err, f"auto as root prints no fallback notice: {err!r}")
    rc, out, err = run(["list", "--owners", "nope"])
    check(rc == 2 and "nope" in err, f"--owners nope: exit {rc} {err!r}, want 2 naming it")


def test_lab(lab):
    must = {(s["pid"], s["fd"]) for s in lab.targets() if s["pid"] is not None}
    compare("lab (13 states)", ["--netns", lab.netns], must_have=must, min_sockets=len(must))
    # The same with a state selection and in table form.
    compare("lab, --state close-wait,idle,closed",
            ["--netns", lab.netns, "--state", "close-wait,idle,closed"],
            must_have={(s["pid"], s["fd"]) for s in lab.targets()
                       if s["state"] in ("CLOSE_WAIT", "IDLE", "CLOSED")})
    # --pid limits the iterator to that task (Linux >= 6.1) and the walk to that process.
    holder = next(s["pid"] for s in lab.targets() if s["pid"] is not None)
    owned = compare(f"lab, --pid {holder}", ["--netns", lab.netns, "--pid", str(holder)],
                    must_have={(s["pid"], s["fd"]) for s in lab.targets() if s["pid"] == holder})
    check(all(pid == holder for v in owned.values() for pid, _ in v),
          f"--pid {holder}: owners of other processes listed")

    # The second BPF pass (for sockets that changed state between the iterator
    # and the dump) alone: the first pass made to report nothing, every owner
    # must still come, and the same as the walk's.
    # (Dumped states only: IDLE and CLOSED fds always come from the first pass.)
    for states in ("close-wait", "established", "listen,time-wait"):
        args = ["--netns", lab.netns, "--state", states]
        deadline = time.monotonic() + COMPARE_DEADLINE
        while True:
            second, _ = list_owners("bpf", args, prefix=["env", "TCPSTATE_TEST_BPF_SECOND_PASS=1"])
            proc, _ = list_owners("proc", args)
            if (second == proc and proc) or time.monotonic() >= deadline:
                break
            time.sleep(0.3)
        check(second == proc and proc, f"second pass only, --state {states}: "
              + ("no owned sockets" if not proc else "; ".join(diff(second, proc, "second"))))

    def tables():
        rb, ob, _ = run(["list", "--owners", "bpf", "--state", "listen", "--netns", lab.netns])
        rp, op, _ = run(["list", "--owners", "proc", "--state", "listen", "--netns", lab.netns])
        tables.last = (ob, op)
        return rb == 0 and rp == 0 and ob == op and ob.strip()
    check(wait_until(tables, 5, interval=0.3),
          f"table of LISTEN sockets differs: bpf {tables.last[0]!r} proc {tables.last[1]!r}")


class Sockgen:
    """bench/sockgen holding N sockets in a namespace of ours."""

    def __init__(self, binary, netns, sockets, timeout=60):
        rfd, wfd = os.pipe()
        self.proc = subprocess.Popen([binary, "--sockets", str(sockets), "--netns", netns,
                                      "--ready-fd", str(wfd)], pass_fds=[wfd],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(wfd)
        buf = b""
        end = time.monotonic() + timeout
        try:
            while b"\n" not in buf and time.monotonic() < end:
                r, _, _ = select.select([rfd], [], [], 0.5)
                if r:
                    chunk = os.read(rfd, 256)
                    if not chunk:
                        break
                    buf += chunk
                elif self.proc.poll() is not None:
                    break
        finally:
            os.close(rfd)
        if not buf.startswith(b"ready"):
            self.close()
            raise AssertionError(f"sockgen not ready: {buf!r}")
        self.count = int(buf.split()[2])

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def test_sockgen(netns):
    binary = os.path.join(os.path.dirname(tcpstate_path()), "bench", "sockgen")
    # bench/meson.build always builds it.
    if not check(os.access(binary, os.X_OK), f"{binary} is not built: no generated sockets"):
        return None
    gen = Sockgen(binary, netns, 3000)
    # 3000 sockets = ~150 TIME_WAIT (no owner) + the rest held by the workers.
    compare(f"sockgen {gen.count} sockets", ["--netns", netns], min_sockets=2500)
    return gen


SHARED = r"""
import os, socket, sys, threading, time
def name_thread(name):
    with open("/proc/self/task/%d/comm" % threading.get_native_id(), "w") as f:
        f.write(name)
with open("/proc/self/comm", "w") as f:
    f.write("tsown-parent")
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.socket(); c.connect(l.getsockname())
a, _ = l.accept()
ev = threading.Event()
def park():
    name_thread("tsown-thread")
    ev.wait()
pid = os.fork()
if pid == 0:
    with open("/proc/self/comm", "w") as f:
        f.write("tsown-child")
    threading.Thread(target=park, daemon=True).start()
    time.sleep(120); os._exit(0)
threading.Thread(target=park, daemon=True).start()
print(l.getsockname()[1], l.fileno(), c.fileno(), a.fileno(), pid, flush=True)
sys.stdin.read()
os.kill(pid, 9)
os.waitpid(pid, 0)
"""


def test_shared(netns):
    p = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", SHARED],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port, lfd, cfd, afd, child = map(int, p.stdout.readline().split())
        time.sleep(0.2)  # both threads named
        fds = {lfd, cfd, afd}
        want = {(pid, fd) for pid in (p.pid, child) for fd in fds}
        proc = compare("forked child + threads", ["--netns", netns, "--port", str(port)],
                       must_have=want, min_sockets=3)
        for ino, owners in proc.items():
            fd = min(f for _, f in owners)
            check(owners == {(p.pid, fd), (child, fd)},
                  f"shared socket {ino}: want parent and child once each, got {sorted(owners)}")
        # comm is per process (its main thread), not the thread the iterator met.
        for source in ("bpf", "proc"):
            _, socks = list_owners(source, ["--netns", netns, "--port", str(port)])
            comms = {(o["pid"], o["comm"]) for s in socks for o in s["owners"]}
            check(comms == {(p.pid, "tsown-parent"), (child, "tsown-child")},
                  f"--owners {source}: comm per owner {sorted(comms)}, want the main threads' names")
    finally:
        p.stdin.close()
        p.wait(timeout=10)


def test_all_netns(mine, populated, must_have):
    compare(f"--all-netns (restricted to {len(mine)} namespaces of ours)", ["--all-netns"],
            namespaces=set(mine), must_have=must_have, min_sockets=len(must_have))
    _, socks = list_owners("bpf", ["--all-netns"])
    seen = {s["netns"] for s in socks if s["owners"]}
    check(set(populated) <= seen, f"--all-netns --owners bpf: no owned sockets in "
          f"{sorted(set(populated) - seen)}")


# Runs as pid 1 of a new pid namespace (unshare --pid --fork --mount-proc):
# starts a holder, runs tcpstate with both sources, reports what it saw.
PIDNS_DRIVER = r"""
import json, os, subprocess, sys
tcpstate = sys.argv[1]
holder = subprocess.Popen([sys.executable, "-c",
    "import os, socket, sys\n"
    "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)\n"
    "print(os.getpid(), l.fileno(), l.getsockname()[1], flush=True)\n"
    "sys.stdin.read()\n"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
hpid, hfd, hport = map(int, holder.stdout.readline().split())
inode = int(os.readlink("/proc/%d/fd/%d" % (hpid, hfd)).split("[")[1].rstrip("]"))
res = {"self": os.getpid(), "holder": hpid, "fd": hfd, "port": hport, "inode": inode}
for source in ("bpf", "proc"):
    r = subprocess.run([tcpstate, "list", "--json", "-v", "--owners", source],
                       capture_output=True, text=True, timeout=120)
    res[source] = {"rc": r.returncode, "out": r.stdout, "err": r.stderr}
res["pids"] = sorted(int(d) for d in os.listdir("/proc") if d.isdigit())
holder.stdin.close(); holder.wait()
print(json.dumps(res))
"""


def nspid(host_pid):
    try:
        with open(f"/proc/{host_pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return [int(x) for x in line.split()[1:]]
    except OSError:
        pass
    return []


def test_pidns(lab):
    """Inside a pid namespace, in the lab's network namespace, whose sockets are
    mostly held by processes outside it."""
    outer, _ = list_owners("proc", ["--netns", lab.netns])
    lab_inodes = set(outer)
    r = subprocess.Popen(["ip", "netns", "exec", lab.netns, "unshare", "--pid", "--fork",
                          "--mount-proc", sys.executable, "-c", PIDNS_DRIVER, tcpstate_path()],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = r.communicate(timeout=180)
    if not check(r.returncode == 0, f"pid namespace driver failed ({r.returncode}): {err}"):
        return
    res = json.loads(out)
    check(res["self"] == 1, f"driver is pid {res['self']} in its pid namespace, want 1")
    check(res["holder"] < 100, f"holder pid {res['holder']} is not a small in-namespace pid")
    inner_pids = set(res["pids"])
    maps = {}
    for source in ("bpf", "proc"):
        rr = res[source]
        if not check(rr["rc"] == 0, f"pidns --owners {source}: exit {rr['rc']}: {rr['err']}"):
            continue
        check(f"owners: {source}" in rr["err"], f"pidns -v --owners {source}: {rr['err']!r}")
        socks = parse_list(rr["out"])
        maps[source] = owner_map(socks)
        held = maps[source].get(res["inode"], frozenset())
        check(held == {(res["holder"], res["fd"])},
              f"pidns --owners {source}: holder's socket {res['inode']} owners {sorted(held)}, "
              f"want {{({res['holder']}, {res['fd']})}} (its pid inside the namespace)")
        stray = {p for v in maps[source].values() for p, _ in v} - inner_pids
        check(not stray, f"pidns --owners {source}: owner pids {sorted(stray)} are not "
              f"processes of the pid namespace {sorted(inner_pids)}")
        leaked = lab_inodes & set(maps[source])
        check(not leaked, f"pidns --owners {source}: {len(leaked)} lab sockets (held outside the "
              f"pid namespace) listed with owners, e.g. "
              + "; ".join(f"{i}: {sorted(maps[source][i])}" for i in sorted(leaked)[:3]))
        check(any(s["inode"] in lab_inodes for s in socks),
              f"pidns --owners {source}: the lab's sockets are missing from the dump")
    if len(maps) == 2:
        check(maps["bpf"] == maps["proc"],
              "pidns: BPF and /proc owners differ: " + "; ".join(diff(maps["bpf"], maps["proc"])))


PIDNS_HOST_CHECK = r"""
import os, socket, sys, time
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)
print(os.getpid(), l.fileno(), flush=True)
sys.stdin.read()
"""


def test_pidns_host_view(lab):
    """The other direction: a holder in a pid namespace, tcpstate on the host
    reports its host pid (whose NSpid's last field is the inner pid)."""
    p = subprocess.Popen(["ip", "netns", "exec", lab.netns, "unshare", "--pid", "--fork",
                          "--kill-child", sys.executable, "-c", PIDNS_HOST_CHECK],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        inner_pid, fd = map(int, p.stdout.readline().split())
        maps = {s: list_owners(s, ["--netns", lab.netns])[0] for s in ("bpf", "proc")}
        for source, m in maps.items():
            hits = [pid for v in m.values() for pid, f in v
                    if f == fd and nspid(pid)[-1:] == [inner_pid] and len(nspid(pid)) == 2]
            check(len(hits) == 1, f"host view --owners {source}: no owner whose NSpid ends "
                  f"with the inner pid {inner_pid} (fd {fd})")
        check(maps["bpf"] == maps["proc"], "host view: BPF and /proc differ: "
              + "; ".join(diff(maps["bpf"], maps["proc"])))
    finally:
        p.stdin.close()
        p.wait(timeout=10)


def test_forced_failure(lab):
    """BPF forbidden, /proc readable: auto falls back with one notice; bpf fails."""
    if not check(subprocess.run(NO_BPF + ["true"], capture_output=True).returncode == 0,
                 "setpriv cannot drop the capabilities"):
        return
    deadline = time.monotonic() + COMPARE_DEADLINE
    while True:
        rc, out, err = run(["list", "--json", "--owners", "auto"], netns=lab.netns, prefix=NO_BPF)
        rcp, outp, errp = run(["list", "--json", "--owners", "proc"], netns=lab.netns,
                              prefix=NO_BPF)
        root = owner_map(parse_list(run(["list", "--json", "--owners", "proc"],
                                        netns=lab.netns)[1]))
        auto = owner_map(parse_list(out)) if rc == 0 else None
        proc = owner_map(parse_list(outp)) if rcp == 0 else None
        if (auto == proc == root and auto) or time.monotonic() >= deadline:
            break
        time.sleep(0.3)
    if check(rc == 0, f"no-BPF --owners auto: exit {rc}: {err}"):
        check(auto == proc, "no-BPF auto differs from no-BPF proc: " + "; ".join(diff(auto, proc, "auto")))
        check(auto == root, "no-BPF auto differs from root's /proc answer: "
              + "; ".join(diff(auto, root, "auto", "root-proc")))
        must = {(s["pid"], s["fd"]) for s in lab.targets() if s["pid"] is not None}
        check(must <= {p for v in auto.values() for p in v},
              "no-BPF auto lacks lab owners (is /proc readable with this capability set?)")
        lines = [l for l in err.splitlines() if l.strip()]
        check(len(lines) == 1 and NOTICE in lines[0],
              f"no-BPF auto: want exactly one stderr line with '{NOTICE}', got {lines!r}")
        if lines and NOTICE in lines[0]:
            # The cause is a missing privilege, named as such: not "unavailable",
            # not "run as root" (we are root, without the capabilities).
            check("not permitted" in lines[0] and "CAP_BPF" in lines[0]
                  and "CAP_SYS_ADMIN" in lines[0] and "run as root" not in lines[0],
                  f"the notice must name the missing capabilities: {lines[0]!r}")
    check(rcp == 0 and NOTICE not in errp, f"no-BPF --owners proc: exit {rcp}, stderr {errp!r}")
    rc, out, err = run(["list", "-v", "--owners", "auto"], netns=lab.netns, prefix=NO_BPF)
    check(rc == 0 and "owners: proc" in err, f"no-BPF auto -v: {rc} {err!r} lacks 'owners: proc'")
    rc, out, err = run(["list", "--owners", "bpf"], netns=lab.netns, prefix=NO_BPF)
    check(rc == 1 and "bpf" in err.lower() and out == "",
          f"no-BPF --owners bpf: exit {rc} (want 1), stdout {out[:80]!r}, stderr {err!r}")


# A client whose connection the server resets (SO_LINGER 0), keeping its fd:
# CLOSED, in no dump; it prints "PORT FD" and waits for stdin to close.
RESET = r"""
import socket, struct, sys
srv = socket.socket(socket.AF_INET6)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("::1", 0)); srv.listen(8)
port = srv.getsockname()[1]
v4 = socket.socket(); v4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
v4.bind(("127.0.0.1", port)); v4.listen(8)
c6 = socket.create_connection(("::1", port)); a6, _ = srv.accept()
c4 = socket.create_connection(("127.0.0.1", port)); a4, _ = v4.accept()
for a in (a6, a4):
    a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    a.close()
print(port, c6.fileno(), c4.fileno(), flush=True)
sys.stdin.read()
"""


def test_closed_peer(netns):
    """A CLOSED fd of a reset connection: with BPF its peer (v4 and v6) and the
    pending ECONNRESET; with /proc no peer (never a false one); doctor names the
    peer that reset it."""
    p = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", RESET],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port, fd6, fd4 = map(int, p.stdout.readline().split())
        want = {(fd6, "::1"), (fd4, "127.0.0.1")}
        got = {}
        for source in ("bpf", "proc"):
            _, socks = list_owners(source, ["--netns", netns, "--state", "closed"])
            got[source] = {o["fd"]: s for s in socks for o in s["owners"] if o["pid"] == p.pid}
            check(set(got[source]) == {fd6, fd4},
                  f"--owners {source}: CLOSED fds {sorted(got[source])}, want {fd6} and {fd4}")
        for fd, addr in want:
            s = got["bpf"].get(fd)
            if not s:
                continue
            check(s["remote_addr"] == addr and s["remote_port"] == port,
                  f"BPF: CLOSED fd {fd} peer {s['remote_addr']}:{s['remote_port']}, want {addr}:{port}")
            check(s.get("pending_error") == "ECONNRESET",
                  f"BPF: CLOSED fd {fd} pending_error {s.get('pending_error')!r}, want ECONNRESET")
            check(s["local_port"] not in (0, None), f"BPF: CLOSED fd {fd} lost its local port: {s}")
            s = got["proc"].get(fd)
            if s:
                check(s["remote_addr"] is None and s["remote_port"] is None,
                      f"/proc: CLOSED fd {fd} must have no peer (it cannot be read), got "
                      f"{s['remote_addr']}:{s['remote_port']}")
                check(s["local_port"] == got["bpf"][fd]["local_port"],
                      f"/proc: CLOSED fd {fd} local port {s['local_port']}, BPF says "
                      f"{got['bpf'][fd]['local_port']}")
        rc, out, err = run(["doctor", "--netns", netns, "--owners", "bpf", "--min-age", "0"])
        check(f"fds of connections that [::1]:{port} reset" in out.replace("1 fd of", "1 fds of")
              and f"that 127.0.0.1:{port} reset" in out,
              f"doctor names the peers that reset the CLOSED fds: {out}")
        rc, out, err = run(["explain", "--netns", netns, f":{port}"])
        check(f"127.0.0.1:{port} reset it" in out,
              f"explain tells the CLOSED socket's story with its peer: {out}")
    finally:
        p.stdin.close()
        p.wait(timeout=10)


def test_fd_exhaustion(lab):
    """Out of file descriptors (ulimit -n): either the whole answer, or exit 1
    with the cause on stderr and what was found on stdout; never a silent
    "process gone" (owners or CLOSED/IDLE rows dropped with exit 0)."""
    ref = {}
    for source in ("proc", "bpf"):
        ref[source], _ = list_owners(source, ["--state", "all"], netns=lab.netns)
    warned = set()
    for source in ("proc", "bpf"):
        for limit in range(4, 17):
            cmd = ["ip", "netns", "exec", lab.netns, "bash", "-c",
                   f'ulimit -n {limit} && exec "$0" list --json --owners {source} --state all',
                   tcpstate_path()]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            if r.returncode == 0:
                got = owner_map(parse_list(r.stdout))
                check(got == ref[source], f"ulimit -n {limit}, --owners {source}: exit 0 but the "
                      "owners differ from an unlimited run: " + "; ".join(diff(got, ref[source])))
                continue
            said = "ran out of file descriptors" in r.stderr and "EMFILE" in r.stderr
            failed_loudly = ("Too many open files" in r.stderr or "EMFILE" in r.stderr)
            check(r.returncode == 1 and failed_loudly,
                  f"ulimit -n {limit}, --owners {source}: exit {r.returncode}, want 0 (complete) "
                  f"or 1 naming EMFILE; stderr {r.stderr!r}")
            if said:
                warned.add(source)
                check(r.stdout.strip() != "", f"ulimit -n {limit}: the partial answer is printed")
    check("proc" in warned, "no ulimit -n from 4 to 16 made the /proc walk run out of fds: "
          "the degraded path was not exercised")


def test_address_space_limit(lab):
    """Under `ulimit -v` libbpf cannot read the kernel's BTF: the note must say
    out of memory, not libbpf's blanket ESRCH ("No such process")."""
    notes, asan = [], False
    for kib in range(12000, 40001, 2000):
        cmd = ["ip", "netns", "exec", lab.netns, "bash", "-c",
               f'ulimit -v {kib} && exec "$0" list --state listen', tcpstate_path()]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        asan |= "AddressSanitizer" in r.stderr or "Sanitizer" in r.stderr
        notes += [l for l in r.stderr.splitlines() if NOTICE in l]
    for n in notes:
        check("No such process" not in n, f"ulimit -v: misleading cause: {n!r}")
    if asan:
        print("   ulimit -v: a sanitizer build cannot run under an address-space limit; "
              "checked only the notes seen", file=sys.stderr)
    else:
        check(any("Cannot allocate memory" in n for n in notes),
              f"no ulimit -v from 12 to 40 MB made BPF fail for want of memory: {notes!r}")


THREAD = r"""
import os, socket, sys, threading
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
t = threading.Thread(target=sys.stdin.read); t.start()
while t.native_id is None:
    pass
print(s.getsockname()[1], s.fileno(), t.native_id, flush=True)
t.join()
"""


def test_thread_pid(netns):
    """--pid with a thread id selects its process, the same with both sources."""
    p = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", THREAD],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port, fd, tid = map(int, p.stdout.readline().split())
        for source in ("bpf", "proc"):
            rc, out, err = run(["list", "--json", "--owners", source, "--netns", netns,
                                "--pid", str(tid)])
            owners = {(o["pid"], o["fd"]) for s in parse_list(out) for o in s["owners"]}
            check(rc == 0 and owners == {(p.pid, fd)},
                  f"--pid {tid} (a thread of {p.pid}), --owners {source}: owners {owners}, "
                  f"want {{({p.pid}, {fd})}}; stderr {err!r}")
            check(f"{tid} is a thread of process {p.pid}" in err,
                  f"--pid THREAD says which process it selected: {err!r}")
    finally:
        p.stdin.close()
        p.wait(timeout=10)


def test_not_built(lab):
    """A build without BPF: auto is /proc, silently (a build choice, not a
    failure: -v and --version say so); --owners bpf is an error."""
    proc, _ = list_owners("proc", ["--netns", lab.netns])
    rc, out, err = run(["list", "--json", "--netns", lab.netns])
    check(rc == 0 and owner_map(parse_list(out)) == proc, "not built: auto differs from proc")
    check(NOTICE not in err, f"not built: no fallback notice expected, got {err!r}")
    rc, out, err = run(["list", "-v", "--netns", lab.netns])
    check(rc == 0 and "owners: proc" in err and "not built" in err,
          f"not built: -v says /proc because BPF is not built: {err!r}")
    rc, out, err = run(["list", "--owners", "bpf", "--netns", lab.netns])
    check(rc == 1 and err.strip(), f"not built: --owners bpf exit {rc} (want 1) {err!r}")


def ns_add(prefix):
    name = f"{prefix}-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True)
    return name


def bpf_loads():
    """Fails, with tcpstate's own reason, when the BPF owner source does not
    load here: every comparison after it would fail the same way."""
    rc, out, err = run(["list", "--owners", "bpf", "--state", "listen"])
    if rc != 0:
        fatal(f"the BPF owner source does not load on this kernel, which has BTF: "
              f"list --owners bpf exited {rc}: {err.strip()}")


def main():
    skip_unless_root()
    option = bpf_option()
    support = owners_support()
    btf = os.path.exists("/sys/kernel/btf/vmlinux")
    if support == "not built" and option != "disabled" and btf:
        fatal(f"-Dbpf={option}, the kernel has BTF, yet the BPF owner source was not built: "
              "a build tool is missing (clang, llvm-strip, bpftool, libbpf.a, libelf, zlib; "
              "see meson's summary)")
    if support == "built":
        if not btf:
            skip("the kernel has no BTF (/sys/kernel/btf/vmlinux): the BPF owner source cannot load")
        bpf_loads()
    namespaces = []
    held = {}
    catch = (Exception,)  # one test's failure, whatever it is, leaves the others to run
    try:
        with Lab() as lab:
            if support == "not built":
                run_each([("test_not_built", lambda: test_not_built(lab))], catch=catch)
            else:
                tests = [(t.__name__, lambda t=t: t(lab))
                         for t in (test_verbose_and_version, test_lab, test_pidns,
                                   test_pidns_host_view, test_forced_failure, test_fd_exhaustion,
                                   test_address_space_limit)]
                for _ in range(3):
                    namespaces.append(ns_add("tsowners"))
                gen_ns, shared_ns, reset_ns = namespaces
                must = {(s["pid"], s["fd"]) for s in lab.targets() if s["pid"] is not None}

                def sockgen():
                    held["gen"] = test_sockgen(gen_ns)

                def all_netns():
                    populated = [lab.netns] + ([gen_ns] if held.get("gen") else [])
                    test_all_netns([lab.netns] + namespaces, populated, must)

                tests += [("test_sockgen", sockgen),
                          ("test_shared", lambda: test_shared(shared_ns)),
                          ("test_closed_peer", lambda: test_closed_peer(reset_ns)),
                          ("test_thread_pid", lambda: test_thread_pid(reset_ns)),
                          ("test_all_netns", all_netns)]
                run_each(tests, sys.argv[1:], catch=catch)
    finally:
        if held.get("gen"):
            held["gen"].close()
        for ns in namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            if netns_exists(ns):
                failures.append(f"namespace {ns} left behind")
    if support == "not built" and not failures:
        skip(f"BPF owner source: not built in this build (-Dbpf={option}"
             + ("" if option == "disabled" else ", no kernel BTF at build time")
             + "); checked only the /proc fallback (auto == proc, silently; --owners bpf exits 1)")
    finish("owner source")


if __name__ == "__main__":
    main()
