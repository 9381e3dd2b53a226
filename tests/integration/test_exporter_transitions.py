# SPDX-License-Identifier: MIT
"""The exporter's transitions, from the trace program it keeps loaded: in a
namespace of the test's own, N connections whose client closes first give
exactly N of each change of that sequence (client ESTABLISHED -> FIN_WAIT_1
-> FIN_WAIT_2 -> TIME_WAIT, server ESTABLISHED -> CLOSE_WAIT -> LAST_ACK ->
CLOSED); sockets held in CLOSE_WAIT for a known time land in the histogram's
right bucket with the right _count and _sum, while one in CLOSE_WAIT before
the exporter started is counted as a lower bound, not in the histogram;
promtool accepts the exposition; --no-transitions removes the series;
without the privilege to load the program the exporter says so once and
serves the rest; `metrics` (one look) declares none of them.

The exporter runs in our own namespace on a free port of 127.0.0.1 and
watches the test's namespace (--netns), so that scraping it makes no
connection there."""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import (JsonHelper, check, need_programs, run_named, run_tcpstate,  # noqa: E402
                   skip_unless_root, tcpstate_path, wait_until)
from tslab import Netns  # noqa: E402
from test_exporter import Daemon, http  # noqa: E402

N = 5
HOLD_S = 1.5  # in le="2.5", not in le="1.0"

# Server and clients in one process, driven line by line on stdin; one JSON
# object per command.
PEER = r"""
import json, socket, sys, time
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(128)
port = l.getsockname()[1]
old = None
def say(**kw):
    print(json.dumps(kw), flush=True)
def pair():
    c = socket.create_connection(("127.0.0.1", port))
    s, _ = l.accept()
    return c, s
def to_close_wait(c, s):
    before = time.monotonic()
    c.close()
    s.settimeout(10)
    assert s.recv(1) == b""  # the FIN came: CLOSE_WAIT
    return before
say(port=port)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "old":
        old = pair()
        to_close_wait(*old)
        say(ok=True)
    elif cmd[0] == "close_old":
        old[1].close()
        say(ok=True)
    elif cmd[0] == "run":
        n, hold = int(cmd[1]), float(cmd[2])
        pairs = [pair() for _ in range(n)]
        # Bounds of each socket's time in CLOSE_WAIT, from CLOCK_MONOTONIC (the
        # kernel's clock): at least from the FIN read to close(), at most from
        # the peer's close() to the end of ours.
        lo, hi, t = [], [], []
        for c, s in pairs:
            before = to_close_wait(c, s)
            t.append((before, time.monotonic()))
        time.sleep(hold)  # the time held in CLOSE_WAIT, the thing measured
        for (c, s), (before, fin) in zip(pairs, t):
            lo.append(time.monotonic() - fin)
            s.close()
            hi.append(time.monotonic() - before)
        say(lo=lo, hi=hi)
    elif cmd[0] == "exit":
        break
"""


def start_exporter(netns, *args, prefix=()):
    """The exporter in our namespace on a free port, over netns: (daemon, port)."""
    d = Daemon(None, [*prefix, tcpstate_path(), "exporter", "--listen", "127.0.0.1:0",
                      "--netns", netns, *args], "exporter")
    m = wait_until(lambda: not d.alive() or re.search(
        r"listening on http://127\.0\.0\.1:(\d+)/metrics", d.output()), 60, 0.1)
    if not m or m is True:
        d.stop()
        raise AssertionError(f"the exporter did not start: {d.output()}")
    return d, int(m.group(1))


def scrape(port, openmetrics=False):
    headers = [("Accept", "application/openmetrics-text;version=1.0.0")] if openmetrics else []
    st, hdrs, body = http(None, port, "/metrics", headers=headers)
    if st != 200:
        raise AssertionError(f"scrape: HTTP {st}")
    return body.decode()


def samples(text, name, netns=None):
    """{frozenset(labels): value} of the samples of name (of netns when given)."""
    out = {}
    for labels, value in re.findall(rf"^{name}(?:\{{([^}}]*)\}})? (\S+)$", text, re.M):
        ls = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))
        if netns is None or ls.get("netns") == netns:
            out[frozenset(ls.items())] = float(value)
    return out


def buckets(text, netns, state):
    return {dict(k)["le"]: v for k, v in
            samples(text, "tcpstate_state_duration_seconds_bucket", netns).items()
            if dict(k)["state"] == state}


def pairs_of(text, netns):
    return {(dict(k)["from"], dict(k)["to"]): v
            for k, v in samples(text, "tcpstate_transitions_total", netns).items()}


def one(text, name, **labels):
    for k, v in samples(text, name).items():
        if all(dict(k).get(a) == b for a, b in labels.items()):
            return v
    return None


CLOSE_SEQUENCE = {
    ("IDLE", "SYN_SENT"), ("SYN_SENT", "ESTABLISHED"), ("SYN_RECEIVED", "ESTABLISHED"),
    ("ESTABLISHED", "FIN_WAIT_1"), ("FIN_WAIT_1", "FIN_WAIT_2"), ("FIN_WAIT_2", "TIME_WAIT"),
    ("ESTABLISHED", "CLOSE_WAIT"), ("CLOSE_WAIT", "LAST_ACK"), ("LAST_ACK", "CLOSED"),
}


def test_counts_histogram_and_lower_bound():
    with Netns("tsexptr") as ns:
        peer = JsonHelper(["ip", "netns", "exec", ns.name, sys.executable, "-c", PEER])
        try:
            peer.read()
            # In CLOSE_WAIT before the exporter starts: its time is a lower bound.
            check(peer.ask("old").get("ok"), "a CLOSE_WAIT older than the exporter")
            ex, port = start_exporter(ns.name)
            with ex:
                check(peer.ask("close_old").get("ok"), "the old CLOSE_WAIT closed")
                held = peer.ask(f"run {N} {HOLD_S}", 60)
                # Events come asynchronously: until the last change of the sequence is in.
                want_closed = N + 1
                text = wait_until(lambda: (lambda t: t if pairs_of(t, ns.name).get(
                    ("LAST_ACK", "CLOSED"), 0) >= want_closed else None)(scrape(port)), 30, 0.2)
                if not check(text, f"LAST_ACK -> CLOSED reached {want_closed}: "
                             f"{pairs_of(scrape(port), ns.name)}"):
                    return
                pairs = pairs_of(text, ns.name)
                # Exactly N of each change of the sequence; the old socket adds one
                # CLOSE_WAIT -> LAST_ACK -> CLOSED. The listener's own (IDLE -> BOUND
                # -> LISTEN, or IDLE -> LISTEN without the bind hook) came before.
                want = {p: N for p in CLOSE_SEQUENCE}
                want[("CLOSE_WAIT", "LAST_ACK")] = N + 1
                want[("LAST_ACK", "CLOSED")] = N + 1
                check({p: v for p, v in pairs.items() if p in CLOSE_SEQUENCE} == want,
                      f"the close sequence, exactly: {sorted(pairs.items())}")
                check(set(pairs) <= CLOSE_SEQUENCE,
                      f"nothing but the sequence: {sorted(set(pairs) - CLOSE_SEQUENCE)}")
                check(one(text, "tcpstate_trace_lost_events_total") == 0,
                      "no event lost (else the counts above would not hold)")
                cw = dict(state="CLOSE_WAIT", netns=ns.name)
                check(one(text, "tcpstate_state_duration_seconds_count", **cw) == N,
                      f"{N} exact CLOSE_WAIT times: the old socket's is not one")
                check(one(text, "tcpstate_state_duration_inexact_total", reason="at_least", **cw) == 1,
                      "the old socket's time counted as a lower bound")
                check(one(text, "tcpstate_state_duration_seconds_bucket", le="1.0", **cw) == 0 and
                      one(text, "tcpstate_state_duration_seconds_bucket", le="2.5", **cw) == N and
                      one(text, "tcpstate_state_duration_seconds_bucket", le="+Inf", **cw) == N,
                      f"held {HOLD_S} s: in le=2.5, not in le=1.0: "
                      f"{buckets(text, ns.name, 'CLOSE_WAIT')}")
                total = one(text, "tcpstate_state_duration_seconds_sum", **cw)
                check(total is not None and sum(held["lo"]) <= total <= sum(held["hi"]),
                      f"_sum {total} within the bounds the peer measured: {held}")
                for state in ("ESTABLISHED", "FIN_WAIT_1", "LAST_ACK", "SYN_SENT"):
                    check(one(text, "tcpstate_state_duration_seconds_count", state=state,
                              netns=ns.name) is not None, f"a histogram for {state}")
                check(one(text, "tcpstate_transitions_source", source="bpf") == 1, "source bpf")
                r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                                   capture_output=True, timeout=30)
                check(r.returncode == 0, f"promtool check metrics: {r.stdout!r} {r.stderr!r}")
                om = scrape(port, openmetrics=True)
                check(om.endswith("# EOF\n") and "# TYPE tcpstate_transitions counter\n" in om
                      and "# TYPE tcpstate_state_duration_seconds histogram\n" in om
                      and "# TYPE tcpstate_trace_lost_events counter\n" in om,
                      "OpenMetrics: counter families without _total, # EOF last")
                check(ex.alive() and ex.stop() == 0, f"exporter exits 0: {ex.output()}")
                check("transitions" not in ex.output(), f"nothing said about transitions: {ex.output()}")
            peer.say("exit")
        finally:
            peer.stop()


def test_no_transitions_removes_the_series():
    with Netns("tsexptr") as ns:
        peer = JsonHelper(["ip", "netns", "exec", ns.name, sys.executable, "-c", PEER])
        try:
            peer.read()
            ex, port = start_exporter(ns.name, "--no-transitions")
            with ex:
                peer.ask("run 2 0", 30)
                text = scrape(port)
                check(one(text, "tcpstate_transitions_source", source="off") == 1 and
                      one(text, "tcpstate_transitions_source", source="bpf") == 0,
                      "source off")
                for name in ("tcpstate_transitions_total", "tcpstate_state_duration_seconds",
                             "tcpstate_state_duration_inexact_total",
                             "tcpstate_trace_lost_events_total"):
                    check(not re.search(rf"^(# TYPE )?{name}", text, re.M), f"no {name}")
                check(re.search(r'^tcpstate_sockets\{netns="' + ns.name, text, re.M),
                      "the other series are served")
            peer.say("exit")
        finally:
            peer.stop()


def test_cannot_load_says_once_and_serves_the_rest():
    # Root without CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN: the program cannot load. The
    # exporter runs inside the namespace it watches (entering one needs CAP_SYS_ADMIN).
    with Netns("tsexptr") as ns:
        drop = "-bpf,-perfmon,-sys_admin"
        d = Daemon(ns.name, ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}",
                             tcpstate_path(), "exporter", "--listen", "127.0.0.1:9977",
                             "--netns", "/proc/self/ns/net"], "exporter")
        with d:
            ok = wait_until(lambda: not d.alive() or "listening on" in d.output(), 60, 0.1)
            if not check(ok and d.alive(), f"the exporter serves without the privilege: {d.output()}"):
                return
            st, _, body = http(ns.name, 9977, "/metrics")
            text = body.decode()
            check(st == 200 and one(text, "tcpstate_transitions_source", source="failed") == 1,
                  f"source failed: {[l for l in text.splitlines() if 'source' in l]}")
            check("tcpstate_transitions_total{" not in text and
                  "tcpstate_state_duration_seconds_bucket{" not in text, "no transition series")
            check(f'tcpstate_sockets{{netns="{ns.name}"' in text, "the other series are served")
            http(ns.name, 9977, "/metrics")
            out = d.output()
            check(out.count("transitions are off") == 1 and "CAP_BPF" in out,
                  f"said once, naming the privilege: {out!r}")


def test_metrics_one_shot_declares_none():
    with Netns("tsexptr") as ns:
        rc, out, err = run_tcpstate(["metrics", "--netns", ns.name], timeout=60)
        check(rc == 0, f"metrics: exit {rc}: {err}")
        check("tcpstate_sockets{" in out and "tcpstate_transitions" not in out and
              "tcpstate_state_duration" not in out, "metrics has no transition series")


def main():
    skip_unless_root()
    need_programs("promtool", "ip", "setpriv")
    run_named([
        ("counts_histogram_and_lower_bound", test_counts_histogram_and_lower_bound),
        ("no_transitions_removes_the_series", test_no_transitions_removes_the_series),
        ("cannot_load_says_once_and_serves_the_rest", test_cannot_load_says_once_and_serves_the_rest),
        ("metrics_one_shot_declares_none", test_metrics_one_shot_declares_none),
    ], "exporter transitions", only=sys.argv[1:])


if __name__ == "__main__":
    main()
