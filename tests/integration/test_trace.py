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
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import (check, failures, run_named, skip_unless_root, tcpstate_path,  # noqa: E402
                   wait_until)
from tslab import Netns  # noqa: E402

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
    elif cmd[0] == "connect_from":
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.bind(("127.0.0.1", int(cmd[1])))
        c.connect(("127.0.0.1", port))
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
    with Netns("tstrace") as ns:
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
    with Netns("tstrace") as ns:
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
    with Netns("tstrace") as ns:
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
    with Netns("tstrace") as ns:
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


# The changes of one connection of the churn (client closes first), as (old, new);
# None is a birth. Besides: the listener's birth, IDLE -> LISTEN, LISTEN -> CLOSED.
PER_CONNECTION = [(None, "IDLE"), ("IDLE", "SYN_SENT"), ("SYN_SENT", "ESTABLISHED"),
                  ("ESTABLISHED", "FIN_WAIT_1"), ("FIN_WAIT_1", "FIN_WAIT_2"),
                  ("FIN_WAIT_2", "TIME_WAIT"), (None, "SYN_RECEIVED"),
                  ("SYN_RECEIVED", "ESTABLISHED"), ("ESTABLISHED", "CLOSE_WAIT"),
                  ("CLOSE_WAIT", "LAST_ACK"), ("LAST_ACK", "CLOSED")]


def churn_binary():
    return os.path.join(os.path.dirname(tcpstate_path()), "bench", "churn")


def run_churn(netns, rate, duration, port):
    """bench/churn in netns (it sets tcp_tw_reuse 0 there); its connection count."""
    r = subprocess.run([churn_binary(), "--netns", netns, "--rate", str(rate), "--duration",
                        str(duration), "--threads", "2", "--port", str(port)],
                       capture_output=True, text=True, timeout=duration + 120)
    m = re.search(r"churn connections=(\d+) failed=(\d+)", r.stdout)
    if not m or r.returncode != 0:
        raise AssertionError(f"churn failed ({r.returncode}): {r.stdout} {r.stderr}")
    return int(m.group(1))


def kinds(events):
    out = {}
    for e in events:
        k = (None if e["born"] else e["old_state"], e["new_state"])
        out[k] = out.get(k, 0) + 1
    return out


def test_fast_churn_every_change_delivered_or_counted():
    """Thousands of connections a second: changes made in a softirq that interrupts
    the hook on its CPU (FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT, mostly) are taken by
    the backup program or counted; no TIME_WAIT end reported for a socket still in
    TIME_WAIT; the summary says what its loss is made of."""
    port = 7105
    # trace writes through a descriptor of its own in append mode, and the test
    # reads through another: a shared file offset would let the test's seek()
    # send trace's next write to the start of the file.
    with Netns("tstrace") as ns, tempfile.NamedTemporaryFile("r") as out, \
            open(out.name, "a") as trace_out:
        p = subprocess.Popen([tcpstate_path(), "trace", "--netns", ns.name, "--json", "-v"],
                             stdout=trace_out, stderr=subprocess.PIPE, text=True)
        err = Lines(p.stderr)
        try:
            # -v names the hooks once trace_open() returned (attached and seeded).
            if not check(wait_until(lambda: any("state changes:" in line
                                                for line in err.snapshot()), 30),
                         "trace did not start: %s" % err.snapshot()):
                return
            n = run_churn(ns.name, 4000, 3, port)
            expected = 3 + n * len(PER_CONNECTION)

            def done():
                out.seek(0)
                lines = out.read().splitlines()
                lost = [json.loads(x)["lost_total"] for x in lines if '"type":"lost"' in x]
                return len([x for x in lines if '"type":"event"' in x]) + max(lost or [0]) \
                    >= expected
            wait_until(done, 60)
            # The timewait sockets still there (a TIME_WAIT end reported for one of
            # these would be false; real early ends exist: an RST kills one).
            ss = subprocess.run(["ip", "netns", "exec", ns.name, "ss", "-tanH", "state",
                                 "time-wait"], capture_output=True, text=True).stdout
            still = {tuple(line.split()[-2:]) for line in ss.splitlines() if line.strip()}
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
            p.wait(timeout=60)
            err.t.join(5)
        out.seek(0)
        objs = [json.loads(line) for line in out.read().splitlines() if line.strip()]
    check(p.returncode == 0, f"trace exit {p.returncode}: {err.snapshot()}")
    s = next((o for o in objs if o.get("type") == "summary"), None)
    if not check(s is not None, "no summary"):
        return
    events = [o for o in objs if o.get("type") == "event"]
    loss = s.get("loss")
    if check(isinstance(loss, dict), f"no loss detail in the summary: {sorted(s)}"):
        check(s["lost"] == loss["events_at_most"] ==
              loss["ring_buffer_full"] + loss["hook_skipped"] + loss["never_seen"],
              f"lost {s['lost']} is not the sum of its causes: {loss}")
    got = kinds(events)
    missing, short = 0, {}
    for k in PER_CONNECTION:
        want = n + (1 if k == (None, "IDLE") else 0)
        check(got.get(k, 0) <= want, f"{k}: {got.get(k, 0)} events for {want} changes")
        if got.get(k, 0) < want:
            short[k] = want - got.get(k, 0)
        missing += max(0, want - got.get(k, 0))
    check(missing <= s["lost"],
          f"{missing} changes missing of {n} connections but {s['lost']} counted lost "
          f"({loss}): missing per change {short}")
    ends = [e for e in events if e["old_state"] == "TIME_WAIT"]
    false = [e for e in ends if (e["local"], e["remote"]) in still]
    check(not false, f"{len(false)} of {len(ends)} TIME_WAIT ends reported for sockets "
          f"still in TIME_WAIT: {false[:3]}")


def stopped(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


def test_stop_delivers_what_the_kernel_queued():
    """Changes made before the stop are delivered even when the reader was behind."""
    port, n = 7106, 20
    with Netns("tstrace") as ns:
        tr = Trace(ns.name)
        peer = Peer(ns.name, port)
        try:
            os.kill(tr.p.pid, signal.SIGSTOP)  # the reader falls behind: all is queued
            try:
                check(wait_until(lambda: stopped(tr.p.pid), 10), "trace did not stop")
                check(peer.ask(f"churn {n}").get("done") == n, "the churn did not finish")
                tr.p.send_signal(signal.SIGINT)
            finally:
                os.kill(tr.p.pid, signal.SIGCONT)
        finally:
            peer.close()
            tr.stop()
    s = tr.summary()
    if not check(s is not None, "no summary"):
        return
    mine = [e for e in tr.events() if port in (e["local_port"], e["remote_port"]) and
            not (e["old_state"] in (None, "IDLE") and e["new_state"] in ("IDLE", "LISTEN"))]
    want = n * (len(PER_CONNECTION) - 1)  # the client's birth has no port yet
    check(len(mine) + s["lost"] >= want and (s["lost"] or len(mine) == want),
          f"{len(mine)} events of the {n} connections made before the stop, {s['lost']} "
          f"lost, {want} expected")


def test_started_while_churn_runs_then_nothing_silent():
    """Started on a namespace already busy: trace says when it is ready (without -v);
    a connection made after that line is reported whole."""
    port, probe = 7107, 7108
    with Netns("tstrace") as ns:
        churn = threading.Thread(target=run_churn, args=(ns.name, 2000, 6, port), daemon=True)
        churn.start()
        time.sleep(0.5)  # the churn is under way (not a readiness wait)
        p = subprocess.Popen([tcpstate_path(), "trace", "--netns", ns.name, "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = Lines(p.stdout), Lines(p.stderr)
        peer = None
        try:
            ready = wait_until(lambda: p.poll() is not None or
                               any("tracing" in line for line in err.snapshot()), 30)
            if not check(ready and p.poll() is None,
                         "no readiness line on stderr: %s" % err.snapshot()):
                return
            peer = Peer(ns.name, probe)
            c = peer.ask("connect")
            peer.ask("client_close")
            peer.ask("server_close")
            mine = lambda: [json.loads(x) for x in out.snapshot()  # noqa: E731
                            if '"type":"event"' in x and f":{probe}\"" in x]
            wait_until(lambda: len(mine()) >= 11 or any('"type":"lost"' in x
                                                       for x in out.snapshot()), 30)
        finally:
            if peer:
                peer.close()
            churn.join(60)
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
            p.wait(timeout=60)
            out.t.join(5)
            err.t.join(5)
        objs = [json.loads(x) for x in out.snapshot() if x.strip()]
    s = next((o for o in objs if o.get("type") == "summary"), {"lost": 0})
    # The probe's one connection (its SYN_SENT has no local port yet), not its listener.
    ev = [o for o in objs if o.get("type") == "event" and
          probe in (o["local_port"], o["remote_port"]) and
          "LISTEN" not in (o["old_state"], o["new_state"])]
    # Client: -> SYN_SENT .. -> TIME_WAIT (5, its birth has no port); server child: 5.
    check(len(ev) == 10 or s["lost"] > 0,
          f"{len(ev)} events of a connection made after the ready line, not 10: "
          f"{[(e['old_state'], e['new_state']) for e in ev]}")


def test_time_wait_end_by_reuse_of_its_4_tuple():
    """connect() from a bound port ends the TIME_WAIT of the same 4-tuple: reported as
    such, at once (also when the new connection is in TIME_WAIT by the next poll)."""
    port, cport = 7109, 47109
    with Netns("tstrace") as ns:
        tr = Trace(ns.name)
        peer = Peer(ns.name, port)
        try:
            for _ in range(2):
                c = peer.ask(f"connect_from {cport}")
                peer.ask("client_close")
                peer.ask("server_close")
            mine = lambda e: between(e, cport, port)  # noqa: E731
            end = tr.wait_event(lambda e: mine(e) and e["old_state"] == "TIME_WAIT", 5)
            wait_until(lambda: len([e for e in tr.events() if mine(e) and
                                    e["new_state"] == "TIME_WAIT"]) >= 2, 10)
        finally:
            peer.close()
            tr.stop()
    check(c["client_port"] == cport, f"the client did not get port {cport}: {c}")
    entries = [e for e in tr.events() if mine(e) and e["new_state"] == "TIME_WAIT"]
    check(len(entries) == 2, f"{len(entries)} TIME_WAIT entries of {cport}, not 2")
    if check(end is not None, "the first TIME_WAIT's end was not reported: %s" %
             [(e["old_state"], e["new_state"]) for e in tr.events() if mine(e)]):
        check(end["new_state"] == "CLOSED" and end["ended"] and end.get("tuple_reused") and
              not end.get("noticed_by_polling") and end["in_old_state"] == "exact" and
              end["in_old_state_s"] < 60,
              f"TIME_WAIT end by reuse: {end}")


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
        ("fast_churn_every_change_delivered_or_counted",
         test_fast_churn_every_change_delivered_or_counted),
        ("stop_delivers_what_the_kernel_queued", test_stop_delivers_what_the_kernel_queued),
        ("started_while_churn_runs_then_nothing_silent",
         test_started_while_churn_runs_then_nothing_silent),
        ("time_wait_end_by_reuse_of_its_4_tuple", test_time_wait_end_by_reuse_of_its_4_tuple),
        ("without_privileges_one_message_and_exit_1",
         test_without_privileges_one_message_and_exit_1),
    ], "trace", only=sys.argv[1:])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
