# SPDX-License-Identifier: MIT
"""tcpstate trace on the real kernel, each test in its own network namespace:
a CLOSE_WAIT held 3 s then closed is CLOSE_WAIT -> LAST_ACK with its holder's
pid and fd and 3.0 s +- 0.2 s; a CLOSE_WAIT older than the trace has a lower
bound marked as such; a client that closes first shows TIME_WAIT's entry and
end; N connections of churn give exactly the expected number of events (or
the reported loss makes up the difference); without privileges, one clear
message and exit 1. A BPF program the kernel refuses fails these tests (the
message, with the verifier's log, is printed), it never skips them."""

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import (check, failures, run_named, skip_unless_root, tcpstate_path,  # noqa: E402
                   wait_until)

NOBODY = 65534

# A server and a client in one process, driven line by line on stdin; answers
# one JSON object per command.
PEER = r"""
import json, os, socket, sys, time
port = int(sys.argv[1])
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port))
l.listen(128)
conns = []
def say(**kw):
    print(json.dumps(kw), flush=True)
say(pid=os.getpid(), port=port)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "connect":
        c = socket.create_connection(("127.0.0.1", port))
        s, _ = l.accept()
        conns.append((c, s))
        say(client_port=c.getsockname()[1], server_fd=s.fileno(), client_fd=c.fileno())
    elif cmd[0] == "client_close":
        c, s = conns[-1]
        c.close()
        s.settimeout(10)
        eof = s.recv(1) == b""
        say(eof=eof, t=time.monotonic())
    elif cmd[0] == "server_close":
        c, s = conns[-1]
        s.close()
        say(t=time.monotonic())
    elif cmd[0] == "churn":
        n = int(cmd[1])
        for _ in range(n):
            c = socket.create_connection(("127.0.0.1", port))
            s, _ = l.accept()
            c.close()
            s.settimeout(10)
            assert s.recv(1) == b""
            s.close()
        say(done=n)
    elif cmd[0] == "exit":
        break
"""


class Netns:
    def __init__(self):
        self.name = f"tstrace-{secrets.token_hex(4)}"

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


class Lines:
    """A pipe read by a thread into a list of lines."""

    def __init__(self, pipe):
        self.lines = []
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.t.start()

    def _run(self, pipe):
        for line in pipe:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def snapshot(self):
        with self.lock:
            return list(self.lines)


class Trace:
    """tcpstate trace --json -v in a namespace; ready once it says its hooks."""

    def __init__(self, netns, *args):
        self.p = subprocess.Popen([tcpstate_path(), "trace", "--netns", netns, "--json", "-v",
                                   *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        self.out = Lines(self.p.stdout)
        self.err = Lines(self.p.stderr)
        ready = wait_until(lambda: self.p.poll() is not None or
                           any("state changes:" in l for l in self.err.snapshot()), 30)
        if self.p.poll() is not None or not ready:
            self.stop()
            raise AssertionError("trace did not start (rc %s): %s" %
                                 (self.p.returncode, "\n".join(self.err.snapshot())))

    def objects(self):
        out = []
        for line in self.out.snapshot():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def events(self):
        return [o for o in self.objects() if o.get("type") == "event"]

    def wait_event(self, pred, timeout):
        return wait_until(lambda: next((e for e in self.events() if pred(e)), None), timeout)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.out.t.join(5)
        self.err.t.join(5)
        check(self.p.returncode == 0, "trace exit %s after SIGINT or its end: %s" %
              (self.p.returncode, "\n".join(self.err.snapshot())))
        return self.p.returncode

    def summary(self):
        return next((o for o in self.objects() if o.get("type") == "summary"), None)


class Peer:
    def __init__(self, netns, port):
        self.p = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", PEER,
                                   str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        self.hello = self.read()

    def read(self):
        line = self.p.stdout.readline()
        if not line:
            raise AssertionError("the peer process ended")
        return json.loads(line)

    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.read()

    def close(self):
        try:
            self.p.stdin.write("exit\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            pass
        self.p.wait(timeout=10)


def between(e, a, b):
    return e["local_port"] == a and e["remote_port"] == b


def test_close_wait_held_3s_then_closed():
    port = 7101
    with Netns() as ns:
        tr = Trace(ns.name)
        peer = Peer(ns.name, port)
        try:
            c = peer.ask("connect")
            peer.ask("client_close")  # returns once the server read the FIN: in CLOSE_WAIT
            deadline = time.monotonic() + 3.0
            cw = tr.wait_event(lambda e: e["new_state"] == "CLOSE_WAIT" and
                               between(e, port, c["client_port"]), 2.5)
            check(cw is not None, "the server's ESTABLISHED -> CLOSE_WAIT was not reported")
            # Held 3 s, then closed.
            while time.monotonic() < deadline:
                time.sleep(deadline - time.monotonic())
            peer.ask("server_close")
            ev = tr.wait_event(lambda e: e["old_state"] == "CLOSE_WAIT" and
                               between(e, port, c["client_port"]), 10)
        finally:
            peer.close()
            tr.stop()
        if not check(ev is not None, "no CLOSE_WAIT -> LAST_ACK event: %s" % tr.events()):
            return
        check(ev["new_state"] == "LAST_ACK", f"CLOSE_WAIT -> {ev['new_state']}, not LAST_ACK")
        check(ev["holder"] == "process" and ev.get("pid") == peer.hello["pid"] and
              ev.get("fd") == c["server_fd"],
              f"holder is {ev.get('holder')} pid {ev.get('pid')} fd {ev.get('fd')}, not the "
              f"server process {peer.hello['pid']} fd {c['server_fd']}")
        check(ev["in_old_state"] == "exact" and abs(ev["in_old_state_s"] - 3.0) <= 0.2,
              f"time in CLOSE_WAIT {ev['in_old_state_s']} s ({ev['in_old_state']}), "
              "not 3.0 s +- 0.2 s")
        s = tr.summary()
        if check(s is not None, "no summary object at the end"):
            cw = s["per_state"].get("CLOSE_WAIT", {})
            check(cw.get("count") == 1 and abs(cw.get("max_s", 0) - 3.0) <= 0.2,
                  f"summary for CLOSE_WAIT: {cw}")


def test_close_wait_older_than_trace_is_a_lower_bound():
    port = 7102
    with Netns() as ns:
        peer = Peer(ns.name, port)
        try:
            c = peer.ask("connect")
            closed = peer.ask("client_close")
            tr = Trace(ns.name)
            try:
                server = peer.ask("server_close")
                ev = tr.wait_event(lambda e: e["old_state"] == "CLOSE_WAIT" and
                                   between(e, port, c["client_port"]), 10)
            finally:
                tr.stop()
        finally:
            peer.close()
        if not check(ev is not None, "no CLOSE_WAIT -> LAST_ACK event: %s" % tr.events()):
            return
        truth = server["t"] - closed["t"]
        check(ev["in_old_state"] == "at_least", f"age marked {ev['in_old_state']}, not at_least")
        # A lower bound: never above the truth (tcp_info counts in jiffies).
        check(0 <= ev["in_old_state_s"] <= truth + 0.02,
              f"lower bound {ev['in_old_state_s']} s above the true {truth:.3f} s")
        check(ev["holder"] == "process" and ev.get("pid") == peer.hello["pid"] and
              ev.get("fd") == c["server_fd"],
              f"holder from the start snapshot: {ev}")


def test_time_wait_entry_and_end_for_the_client_that_closes_first():
    port = 7103
    with Netns() as ns:
        tr = Trace(ns.name)
        peer = Peer(ns.name, port)
        try:
            c = peer.ask("connect")
            peer.ask("client_close")
            peer.ask("server_close")
            mine = lambda e: between(e, c["client_port"], port)  # noqa: E731
            enter = tr.wait_event(lambda e: mine(e) and e["new_state"] == "TIME_WAIT", 10)
            # TIME_WAIT lasts 60 s (TCP_TIMEWAIT_LEN), then it ends.
            end = tr.wait_event(lambda e: mine(e) and e["old_state"] == "TIME_WAIT", 80)
        finally:
            peer.close()
            tr.stop()
        if check(enter is not None, "no TIME_WAIT entry for the client: %s" % tr.events()):
            check(enter["old_state"] in ("FIN_WAIT_2", "CLOSING") and
                  enter["holder"] == "orphan", f"TIME_WAIT entry: {enter}")
        if check(end is not None, "no TIME_WAIT end for the client"):
            check(end["new_state"] == "CLOSED" and end["ended"] and
                  end["in_old_state"] == "exact" and end["in_old_state_s"] >= 60.0,
                  f"TIME_WAIT end: {end}")


def test_churn_gives_exactly_the_expected_events():
    port, n = 7104, 500
    # Per connection: client (new) -> IDLE, -> SYN_SENT, -> ESTABLISHED,
    # -> FIN_WAIT_1, -> FIN_WAIT_2, -> TIME_WAIT; server child (new) ->
    # SYN_RECEIVED, -> ESTABLISHED, -> CLOSE_WAIT, -> LAST_ACK, -> CLOSED.
    expected = 11 * n
    with Netns() as ns:
        peer = Peer(ns.name, port)
        try:
            tr = Trace(ns.name)
            try:
                check(peer.ask(f"churn {n}").get("done") == n, "the churn did not finish")
                total = lambda: len(tr.events()) + max(  # noqa: E731
                    [o["lost_total"] for o in tr.objects() if o.get("type") == "lost"] or [0])
                wait_until(lambda: total() >= expected, 60)
            finally:
                tr.stop()
        finally:
            peer.close()
    s = tr.summary()
    if not check(s is not None, "no summary"):
        return
    got = len(tr.events())
    check(s["events"] == got, f"summary says {s['events']} events, {got} were printed")
    check(got + s["lost"] == expected,
          f"{got} events + {s['lost']} lost != {expected} expected for {n} connections")
    if s["lost"]:
        check(any(o.get("type") == "lost" for o in tr.objects()), "a loss without a lost line")


def test_without_privileges_one_message_and_exit_1():
    r = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                        "--inh-caps=-all", tcpstate_path(), "trace", "--duration", "1"],
                       capture_output=True, text=True, timeout=30)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    check(r.returncode == 1, f"exit {r.returncode} without privileges, not 1")
    check(len(lines) == 1 and "CAP_BPF" in lines[0] and "run as root" in lines[0],
          f"not one clear message: {r.stderr!r}")
    check(r.stdout == "", f"output without privileges: {r.stdout!r}")


def main():
    skip_unless_root()
    run_named([
        ("close_wait_held_3s_then_closed", test_close_wait_held_3s_then_closed),
        ("close_wait_older_than_trace_is_a_lower_bound",
         test_close_wait_older_than_trace_is_a_lower_bound),
        ("time_wait_entry_and_end_for_the_client_that_closes_first",
         test_time_wait_entry_and_end_for_the_client_that_closes_first),
        ("churn_gives_exactly_the_expected_events", test_churn_gives_exactly_the_expected_events),
        ("without_privileges_one_message_and_exit_1",
         test_without_privileges_one_message_and_exit_1),
    ], "trace", only=sys.argv[1:])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
