# SPDX-License-Identifier: MIT
"""A real web server with TCP_DEFER_ACCEPT (nginx `listen ... deferred`): idle
clients that connect and send nothing sit in SYN_RECEIVED on the server side.
doctor must not call that packet loss or a SYN flood (no warning about
half-open connections) and must say the listener defers accept, citing the
kernel's TcpExtTCPDeferAcceptDrop; explain must say the same of one such
socket instead of "the client's final ACK has not arrived"."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import check, finish, run_tcpstate, skip_unless_root  # noqa: E402
from realprog_defer import DeferredNginx  # noqa: E402

CLIENTS = 12  # more than the backlog of 8: the SYN queue is full, as in the report


def stories_of(out, state):
    """The stories of the sockets in state in explain's text."""
    return [story for story in out.split("\n\n") if story.startswith(state + " ")]


def one_look(ngx):
    """Idle clients, then explain and doctor while their requests wait. None when the
    kernel had already completed them (the deferral is 1 s): the caller tries again."""
    p, ports = ngx.clients(CLIENTS)
    try:
        _, eout, _ = run_tcpstate(["explain", "--netns", ngx.netns, f":{ngx.port}"])
        rc, out, _ = run_tcpstate(["doctor", "--json", "--netns", ngx.netns])
        doc = json.loads(out)
        stories = stories_of(eout, "SYN_RECEIVED")
        if doc["states"].get("SYN_RECEIVED", 0) == 0 or not stories:
            return None
        clients = [s for s in stories_of(eout, "ESTABLISHED")
                   if any(f"127.0.0.1:{port} ->" in s.splitlines()[0] for port in ports)]
        _, lout, _ = run_tcpstate(["list", "--json", "--netns", ngx.netns, "--pid", str(p.pid)])
        listed = [json.loads(line) for line in lout.splitlines() if line.strip()]
        return doc, rc, stories, clients, listed
    finally:
        DeferredNginx.close_clients(p)


def main():
    skip_unless_root()
    with DeferredNginx(backlog=8) as ngx:
        seen = None
        deadline = time.monotonic() + 60
        while seen is None and time.monotonic() < deadline:
            seen = one_look(ngx)
        if not check(seen is not None, "no look caught the idle clients in SYN_RECEIVED"):
            finish("deferred accept")  # cleans up on the way out
        doc, rc, stories, clients, listed = seen
        kinds = [(f["kind"], f["severity"]) for f in doc["findings"]]
        check(not any(k == "syn-backlog" and s in ("warning", "critical") for k, s in kinds),
              f"doctor warns of half-open connections on a deferring listener: {kinds}")
        deferred = [f for f in doc["findings"] if f["kind"] == "deferred-accept"]
        if check(len(deferred) == 1, f"one deferred-accept finding expected: {kinds}"):
            f = deferred[0]
            check(f["severity"] == "info", f"deferred-accept is {f['severity']}, not info")
            check(f["evidence"].get("defer_accept_s") == 1,
                  f"nginx's 'deferred' is TCP_DEFER_ACCEPT 1 s: {f['evidence']}")
            check("TcpExtTCPDeferAcceptDrop" in f["evidence"].get("counters", {}),
                  f"the kernel's TCPDeferAcceptDrop is cited: {f['evidence']}")
            check(f["process"] and f["process"]["comm"] == "nginx",
                  f"the listener's process is named: {f['process']}")
        check(rc == 0, f"doctor exits {rc} with only an info finding")
        if check(stories, "explain told no SYN_RECEIVED story"):
            for s in stories:
                short = s.split("In short", 1)[1].split("Meaning", 1)[0]
                check("defers accept (TCP_DEFER_ACCEPT, 1 s)" in " ".join(short.split()),
                      f"explain does not say the listener defers accept:\n{s}")
                check("has not arrived" not in short,
                      f"explain says the ACK has not arrived:\n{s}")
        # The clients never sent or received data: their times are their age.
        if check(clients, "explain told no story of an idle client"):
            for s in clients:
                flat = " ".join(s.split())
                check("no data either way since the connection was set up" in flat,
                      f"an idle client's story says data moved:\n{s}")
                check("It has carried no data either way" in flat,
                      f"an idle client's summary says data moved:\n{s}")
        idle = [s for s in listed if s["state"] == "IDLE"]
        if check(len(idle) == 1, f"the client's IDLE socket is listed: {listed}"):
            info = idle[0].get("tcp_info") or {}
            check(all(info.get(k) is None for k in ("last_data_sent_ms", "last_data_recv_ms",
                                                    "last_ack_recv_ms")),
                  f"an IDLE socket has no times since data moved: {info}")
        est = [s for s in listed if s["state"] == "ESTABLISHED"]
        check(est and all(s["tcp_info"].get("data_segs_out") == 0 and
                          s["tcp_info"].get("data_segs_in") == 0 for s in est),
              f"idle clients carried no data segments: {[s.get('tcp_info') for s in est]}")
    finish("deferred accept")


if __name__ == "__main__":
    main()
