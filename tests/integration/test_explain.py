# SPDX-License-Identifier: MIT
"""`tcpstate explain`: the 13 pages with live settings read inside the target
namespace, groups, the story of live sockets (ADDR:PORT, :PORT, inode) from a
lab, the time of the peer's FIN checked against a connection we time
ourselves, JSON, and usage errors."""

import json
import os
import secrets
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import check, finish, Lab, run_tcpstate, skip_unless_root  # noqa: E402


LIFECYCLE = [
    "IDLE", "BOUND", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
    "FIN_WAIT_2", "CLOSE_WAIT", "LAST_ACK", "CLOSING", "TIME_WAIT", "CLOSED",
]
CLOSING_GROUP = ["FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "LAST_ACK", "CLOSING", "TIME_WAIT"]


def page_titles(out):
    """State names that start a page (a line holding only the name)."""
    return [line for line in out.splitlines() if line in LIFECYCLE]


def page(out, state):
    """The text of one state's page."""
    lines, inside = [], False
    for line in out.splitlines():
        if line in LIFECYCLE:
            inside = line == state
            continue
        if inside:
            lines.append(line)
    return "\n".join(lines)


class Netns:
    """A bare namespace with a random name, removed on exit."""

    def __enter__(self):
        self.name = f"tsexplain-{secrets.token_hex(4)}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        return False

    def sysctl(self, setting):
        subprocess.run(["ip", "netns", "exec", self.name, "sysctl", "-qw", setting], check=True)


def host_value(name):
    with open("/proc/sys/" + name.replace(".", "/")) as f:
        return f.read().strip()


def test_usage_errors():
    for args, word in ((["nope"], "nope"), (["::1:80"], "::1:80"), ([":0"], ":0"),
                       (["1.2.3.4:99999"], "1.2.3.4:99999"), (["1.2.3:80"], "1.2.3:80"),
                       (["[::1]80"], "[::1]80"), (["[zz]:80"], "[zz]:80"),
                       (["close-wait", "bogus-state"], "bogus-state"), (["--bogus"], "bogus")):
        rc, out, err = run_tcpstate(["explain", *args])
        check(rc == 2, f"explain {args}: exit {rc}, want 2")
        check(word in err, f"explain {args}: message does not name '{word}': {err!r}")
    rc, out, err = run_tcpstate(["explain", "--help"])
    check(rc == 0 and "Usage" in out, "explain --help")
    rc, out, err = run_tcpstate(["explain", "--netns", "tcpstate-no-such-ns"])
    check(rc == 1 and "tcpstate-no-such-ns" in err, f"missing namespace: {rc} {err!r}")


def test_pages_with_namespace_settings():
    name = "net.ipv4.tcp_fin_timeout"
    before = host_value(name)
    value = "37" if before != "37" else "41"
    with Netns() as ns:
        ns.sysctl(f"{name}={value}")
        rc, out, err = run_tcpstate(["explain", "--netns", ns.name])
        check(rc == 0, f"explain --netns: exit {rc}: {err}")
        check(page_titles(out) == LIFECYCLE, f"13 pages in lifecycle order: {page_titles(out)}")
        fw2 = page(out, "FIN_WAIT_2")
        check(f"{name} = {value}" in fw2, f"FIN_WAIT_2 page shows the namespace's {value}: {fw2!r}")
        check(ns.name in out, "the output names the namespace the settings come from")
        for st in LIFECYCLE:
            p = page(out, st)
            for label in ("Meaning", "Closed first", "Who must act", "What ends it", "Settings",
                          "Causes", "How to see"):
                check(f"  {label}" in p, f"{st} page lacks '{label}'")
            check("tcpstate list --state" in p, f"{st} page has no tcpstate list command")
        check("60 s" in page(out, "TIME_WAIT"), "TIME_WAIT page says 60 s")

        rc, out, err = run_tcpstate(["explain", "--netns", ns.name, "--json"])
        check(rc == 0, f"explain --json: {err}")
        doc = json.loads(out)
        check([p["state"] for p in doc["states"]] == LIFECYCLE, "JSON: 13 pages in order")
        fw2 = next(p for p in doc["states"] if p["state"] == "FIN_WAIT_2")
        check(fw2["settings"] == [] or fw2["settings"][0]["value"] == value,
              f"JSON: FIN_WAIT_2 setting {fw2['settings']}")
        check(fw2["settings"] and fw2["settings"][0]["name"] == name, "JSON: setting name")
        cw = next(p for p in doc["states"] if p["state"] == "CLOSE_WAIT")
        check(cw["settings"] == [] and cw["actor"] == "this_program", f"JSON CLOSE_WAIT: {cw}")
        check(doc["sockets"] == [] and doc["netns"] == ns.name, "JSON: no sockets, the netns")
    check(host_value(name) == before, f"host {name} changed: {host_value(name)} != {before}")
    # Without --netns the caller's value is shown.
    rc, out, err = run_tcpstate(["explain", "fin-wait-2"])
    check(rc == 0 and f"{name} = {before}" in out, f"own namespace value {before}: {out!r}")


def test_close_wait_page():
    rc, out, err = run_tcpstate(["explain", "close-wait"])
    check(rc == 0, f"explain close-wait: {err}")
    check(page_titles(out) == ["CLOSE_WAIT"], f"one page: {page_titles(out)}")
    settings = [line for line in out.splitlines() if line.startswith("  Settings")]
    check(len(settings) == 1 and "no sysctl" in settings[0],
          f"CLOSE_WAIT: no sysctl ends it: {settings}")
    check("never called close()" in " ".join(out.split()), "CLOSE_WAIT page calls it an application bug")
    rc, out, err = run_tcpstate(["explain", "closing"])
    check(rc == 0 and page_titles(out) == CLOSING_GROUP, f"group closing: {page_titles(out)}")
    rc, out, err = run_tcpstate(["explain", "CLOSING", "TIME-WAIT", "closing"])
    check(rc == 0 and page_titles(out) == CLOSING_GROUP, f"dedup: {page_titles(out)}")


def stories(args, netns):
    rc, out, err = run_tcpstate(["explain", *args, "--netns", netns, "--json"])
    return rc, (json.loads(out) if out.strip() else None), err


def test_socket_story(lab):
    cw = lab.targets("CLOSE_WAIT")[0]
    port, pid, fd = cw["local_port"], cw["pid"], cw["fd"]

    rc, out, err = run_tcpstate(["explain", f"127.0.0.1:{port}", "--netns", lab.netns])
    check(rc == 0, f"explain 127.0.0.1:{port}: exit {rc}: {err}")
    story = out.split("\n\n")
    mine = [s for s in story if s.startswith("CLOSE_WAIT ")]
    check(len(mine) == 1, f"one CLOSE_WAIT story: {out!r}")
    if mine:
        text = " ".join(mine[0].split())
        check(f"pid {pid}" in text and f"fd {fd}" in text, f"story names pid {pid} fd {fd}: {text}")
        check(f"must close fd {fd}" in text, f"story says the program must close: {text}")
        check("at least" in text, "story says when the peer's FIN arrived")
        check("no sysctl" in text, "story: no sysctl bounds CLOSE_WAIT")
    check(any(s.startswith("FIN_WAIT_2 ") for s in story), "the peer end matches too")

    rc, doc, err = stories([f"127.0.0.1:{port}"], lab.netns)
    check(rc == 0 and doc, f"--json: {rc} {err}")
    socks = doc["sockets"] if doc else []
    cws = [s for s in socks if s["state"] == "CLOSE_WAIT"]
    check(len(cws) == 1, f"JSON: one CLOSE_WAIT: {socks}")
    if not cws:
        return
    s = cws[0]
    check({"pid": pid, "fd": fd} in [{"pid": o["pid"], "fd": o["fd"]} for o in s["owners"]],
          f"JSON owners: {s['owners']}")
    check(s["actor"] == "this_program" and s["settings"] == [], "JSON: actor, no settings")
    check(s["local_port"] == port and s["query"] == f"127.0.0.1:{port}", "JSON: port, query")
    check("peer_fin_ago" in s and s["peer_fin_ago"]["at_least_ms"] <= s["peer_fin_ago"]["at_most_ms"],
          f"JSON: peer_fin_ago {s.get('peer_fin_ago')}")

    # By inode: exactly that socket.
    rc, doc, err = stories([str(s["inode"])], lab.netns)
    check(rc == 0 and doc and len(doc["sockets"]) == 1 and doc["sockets"][0]["state"] == "CLOSE_WAIT",
          f"explain INODE: {rc} {err} {doc and doc['sockets']}")
    rc, out, err = run_tcpstate(["explain", str(s["inode"]), "--netns", lab.netns])
    check(rc == 0 and out.startswith("Settings are read") and "CLOSE_WAIT 127.0.0.1" in out,
          f"explain INODE text: {out[:200]!r}")

    # :PORT matches either end.
    rc, doc, err = stories([f":{port}"], lab.netns)
    states = sorted(x["state"] for x in doc["sockets"]) if doc else []
    check(rc == 0 and "CLOSE_WAIT" in states and "FIN_WAIT_2" in states, f":PORT: {states}")

    # Nothing matches: exit 1, the query named; the JSON lists it.
    rc, doc, err = stories(["127.0.0.1:1"], lab.netns)
    check(rc == 1 and "127.0.0.1:1" in err, f"no match: {rc} {err!r}")
    check(doc and doc["unmatched"] == ["127.0.0.1:1"] and doc["sockets"] == [], f"unmatched: {doc}")
    rc, out, err = run_tcpstate(["explain", f"[::1]:{port}", "--netns", lab.netns])
    check(rc == 1 and f"[::1]:{port}" in err, f"IPv6 query on an IPv4 socket: {rc} {err!r}")
    rc, out, err = run_tcpstate(["explain", "987654321987", "--netns", lab.netns])
    check(rc == 1 and "987654321987" in err, f"unknown inode: {rc} {err!r}")


# Runs inside a namespace: a connection whose last data and FIN are 3 s apart.
FIN_TIMING = r"""
import socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); s, _ = l.accept()
c.sendall(b"x"); time.sleep(0.2); s.recv(1)
time.sleep(3)
c.shutdown(socket.SHUT_WR)
time.sleep(1)
print(s.getsockname()[1], flush=True)
sys.stdin.read()
"""


def test_fin_timing():
    """For CLOSE_WAIT the FIN arrived between the last ACK and the last data
    from the peer: a bare FIN is not data, so last_data_recv alone would
    overstate how long the socket has waited."""
    with Netns() as ns:
        subprocess.run(["ip", "netns", "exec", ns.name, "ip", "link", "set", "lo", "up"], check=True)
        p = subprocess.Popen(["ip", "netns", "exec", ns.name, sys.executable, "-c", FIN_TIMING],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            port = int(p.stdout.readline())
            rc, doc, err = stories([f"127.0.0.1:{port}"], ns.name)
            cw = [s for s in doc["sockets"] if s["state"] == "CLOSE_WAIT"] if doc else []
            check(rc == 0 and len(cw) == 1, f"timed CLOSE_WAIT found: {rc} {err}")
            if cw:
                w = cw[0]["peer_fin_ago"]
                check(800 <= w["at_least_ms"] < 3000, f"FIN at least ~1 s ago: {w}")
                check(w["at_most_ms"] - w["at_least_ms"] >= 2500, f"data 3 s before the FIN: {w}")
                check(w["at_least_ms"] == cw[0]["tcp_info"]["last_ack_recv_ms"], "lower bound")
        finally:
            p.stdin.close()
            p.wait(timeout=10)


def main():
    skip_unless_root()
    test_usage_errors()
    test_pages_with_namespace_settings()
    test_close_wait_page()
    test_fin_timing()
    with Lab(states=["CLOSE_WAIT"]) as lab:
        test_socket_story(lab)
    finish("explain")


if __name__ == "__main__":
    main()
