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
from tslab import check, failures, run_tcpstate, skip_unless_root  # noqa: E402
from realprog_defer import DeferredNginx  # noqa: E402

CLIENTS = 12  # more than the backlog of 8: the SYN queue is full, as in the report


def syn_received_story(out):
    """The story of the SYN_RECEIVED socket in explain's text, or None."""
    for story in out.split("\n\n"):
        if story.startswith("SYN_RECEIVED "):
            return story
    return None


def one_look(ngx):
    """Idle clients, then doctor and explain while their requests wait. None when the
    kernel had already completed them (the deferral is 1 s): the caller tries again."""
    p, ports = ngx.clients(CLIENTS)
    try:
        rc, out, err = run_tcpstate(["doctor", "--json", "--netns", ngx.netns])
        doc = json.loads(out)
        if doc["states"].get("SYN_RECEIVED", 0) == 0:
            return None
        text_rc, text, _ = run_tcpstate(["doctor", "--netns", ngx.netns])
        stories = []
        for port in ports:
            erc, eout, _ = run_tcpstate(["explain", "--netns", ngx.netns, f"127.0.0.1:{port}"])
            story = syn_received_story(eout)
            if story:
                stories.append(story)
        return doc, rc, stories
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
            return 1
        doc, rc, stories = seen
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
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
