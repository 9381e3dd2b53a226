# SPDX-License-Identifier: MIT
"""Real third-party programs (Debian packages) in throwaway network namespaces.

    from realprog import Space
    from tslab import need_programs

    need_programs("nginx", "socat")   # missing ones fail the test
    with Space(peer=True) as sp:
        conf = sp.write("nginx.conf", "...")
        nginx = sp.start(["nginx", "-c", conf, "-g", "daemon off;"], "nginx")
        sp.wait_port(8080, owner=nginx)
        ...

A Space is one namespace with lo up and a private temporary directory for the
programs' configuration, logs and pid files (never the host's /etc, nothing
started in the host's namespace). With peer=True a second namespace is joined
to it by a veth pair: SERVER_ADDR on the first, PEER_ADDR on the second, for
clients whose own sockets must not show up in the first. With named=False the
namespace has no /run/netns name (as a container's): a holder process keeps
it, `ns_arg` is that process's pid. On exit (also after
a failure) it stops every process it started (their process groups), then any
process still living in its namespaces (daemons that forked away), deletes the
namespaces and the directory.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from tslab import pid_alive, wait_until

SERVER_ADDR = "10.77.0.1"
PEER_ADDR = "10.77.0.2"

# The interpreter with python3-requests: the python3 on PATH may be another one.
SYSTEM_PYTHON = "/usr/bin/python3"


def ns_pids(name):
    r = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()] if r.returncode == 0 else []


def pids_in_netns(inode):
    """Every process whose network namespace has this inode."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}/ns/net").st_ino == inode:
                    out.append(int(d))
            except OSError:
                pass
    return out


class Space:
    def __init__(self, peer=False, named=True, prefix="tsreal"):
        tag = uuid.uuid4().hex[:8]
        self.named = named
        self.netns = f"{prefix}-{tag}" if named else None
        self.peer_netns = f"{prefix}-{tag}-c" if peer else None
        self.holder = None   # named=False: the process keeping the namespace
        self.inode = None
        self.dir = None
        self.procs = []  # (name, Popen)

    @property
    def ns_arg(self):
        """What `tcpstate --netns` takes for this namespace."""
        return self.netns if self.named else str(self.holder.pid)

    def _prefix(self, peer=False):
        if peer:
            return ["ip", "netns", "exec", self.peer_netns]
        if self.named:
            return ["ip", "netns", "exec", self.netns]
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--"]

    def pids(self):
        """Processes in the (first) namespace."""
        if self.named:
            return ns_pids(self.netns)
        return [p for p in pids_in_netns(self.inode) if p != self.holder.pid]

    # -- lifecycle --

    def __enter__(self):
        try:
            self.dir = tempfile.mkdtemp(prefix="tsreal-")
            os.chmod(self.dir, 0o755)  # workers that drop privileges read their files
            if self.named:
                self._ip("netns", "add", self.netns)
                self._ip("-n", self.netns, "link", "set", "lo", "up")
            else:
                self.holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "3600"],
                                               start_new_session=True)
                own = os.stat("/proc/self/ns/net").st_ino
                self.inode = wait_until(lambda: (lambda i: i if i != own else None)(
                    os.stat(f"/proc/{self.holder.pid}/ns/net").st_ino), 10)
                if not self.inode:
                    raise AssertionError("unshare --net did not make a namespace")
                subprocess.run(self._prefix() + ["ip", "link", "set", "lo", "up"], check=True)
            if self.peer_netns:
                self._ip("netns", "add", self.peer_netns)
                self._ip("-n", self.peer_netns, "link", "set", "lo", "up")
                self._ip("-n", self.netns, "link", "add", "veth-s", "type", "veth",
                         "peer", "name", "veth-c", "netns", self.peer_netns)
                self._ip("-n", self.netns, "addr", "add", f"{SERVER_ADDR}/24", "dev", "veth-s")
                self._ip("-n", self.peer_netns, "addr", "add", f"{PEER_ADDR}/24", "dev", "veth-c")
                self._ip("-n", self.netns, "link", "set", "veth-s", "up")
                self._ip("-n", self.peer_netns, "link", "set", "veth-c", "up")
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def cleanup(self):
        for name, p in reversed(self.procs):
            self._end(p)
        if self.holder is not None:
            for pid in pids_in_netns(self.inode):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._end(self.holder)
            wait_until(lambda: not [p for p in pids_in_netns(self.inode) if pid_alive(p)], 10)
        for ns in (self.netns, self.peer_netns):
            if ns and os.path.exists(f"/run/netns/{ns}"):
                # Daemons that left their process group still live in our namespace.
                for pid in ns_pids(ns):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                wait_until(lambda: not [p for p in ns_pids(ns) if pid_alive(p)], 10)
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    @staticmethod
    def _end(p):
        if p.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                return
            try:
                p.wait(wait)
                return
            except subprocess.TimeoutExpired:
                pass

    @staticmethod
    def _ip(*args):
        subprocess.run(["ip", *args], check=True, capture_output=True)

    # -- files and programs --

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        """Writes a file in the private directory; returns its path."""
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def log(self, name):
        try:
            with open(self.path(f"{name}.log"), errors="replace") as f:
                return f.read()[-4000:]
        except FileNotFoundError:
            return ""

    def start(self, argv, name, peer=False, stdin=subprocess.DEVNULL, env=None):
        """Runs argv in the namespace (the peer one with peer=True) in its own process
        group, output to NAME.log in the private directory. Returns the Popen."""
        out = open(self.path(f"{name}.log"), "wb")
        try:
            p = subprocess.Popen(self._prefix(peer) + list(argv), stdin=stdin, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True, env=env,
                                 cwd=self.dir)
        finally:
            out.close()
        self.procs.append((name, p))
        return p

    def run(self, argv, peer=False, timeout=30, check=True):
        """Runs argv to completion in the namespace: CompletedProcess (text)."""
        return subprocess.run(self._prefix(peer) + list(argv), capture_output=True,
                              text=True, timeout=timeout, check=check)

    def stop(self, p):
        self._end(p)

    def listening(self, port, peer=False):
        r = self.run(["ss", "-tlnH", f"sport = :{port}"], peer=peer, check=False)
        return r.returncode == 0 and bool(r.stdout.strip())

    def wait_port(self, port, owner=None, name=None, timeout=20, peer=False):
        """Waits until something listens on port (deadline); fails with the program's
        log when it does not, or when owner (a Popen) exits first."""
        def ready():
            if owner is not None and owner.poll() is not None:
                raise AssertionError(f"{name or owner.args} exited ({owner.returncode}) before "
                                     f"listening on {port}: {self.log(name) if name else ''}")
            return self.listening(port, peer)
        if not wait_until(ready, timeout, 0.05):
            raise AssertionError(f"nothing listens on {port} after {timeout} s: "
                                 f"{self.log(name) if name else ''}")

    def pids_of(self, comm):
        """Pids in the namespace whose command name is comm."""
        out = []
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == comm:
                        out.append(pid)
            except OSError:
                pass
        return sorted(out)


def ppid_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def read_pidfile(path, timeout=10):
    """The pid written to path, once it is there (deadline)."""
    def get():
        try:
            with open(path) as f:
                text = f.read().strip()
            return int(text) if text else None
        except (FileNotFoundError, ValueError):
            return None
    pid = wait_until(get, timeout)
    if pid is None:
        raise AssertionError(f"no pid in {path} after {timeout} s")
    return pid


def log(msg):
    print(msg, file=sys.stderr, flush=True)
