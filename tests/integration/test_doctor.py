# SPDX-License-Identifier: MIT
"""`tcpstate doctor` against real sockets in fresh namespaces: CLOSE_WAIT held by a
known process (pid, count, fds, fd limit), a growing leak (rate, time to fd
exhaustion), FIN_WAIT_2 blamed on the remote program, a full accept queue, a
clean namespace (no findings, exit 0), and usage errors."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import check, Lab, run_named, run_tcpstate, skip_unless_root, ss, wait_until  # noqa: E402
from tslab import Netns  # noqa: E402



class DoctorNetns(Netns):
    """A fresh namespace with lo up; removed on exit."""

    def __init__(self):
        super().__init__("tsdoc")

    def spawn(self, code, *args):
        """Runs python code inside; it prints one JSON line when ready and holds until stdin closes."""
        p = subprocess.Popen(["ip", "netns", "exec", self.name, sys.executable, "-c", code, *args],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        if not line:
            raise AssertionError("helper process died before it was ready")
        return json.loads(line)


def doctor(*args):
    rc, out, err = run_tcpstate(["doctor", "--json", *args], timeout=60)
    if rc not in (0, 3):
        raise AssertionError(f"doctor {args} failed ({rc}): {err}")
    return rc, json.loads(out)


def kinds(doc, kind):
    return [f for f in doc["findings"] if f["kind"] == kind]


# A server that accepts N connections and never closes them; the clients close
# (their ends become orphans in FIN_WAIT_2). RLIMIT_NOFILE is lowered to 512.
CLOSE_WAIT_SERVER = r"""
import json, os, resource, socket, sys, time
n = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (512, 4096))
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(64)
port = l.getsockname()[1]
clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
held = [l.accept()[0] for _ in range(n)]
for c in clients:
    c.close()
time.sleep(0.3)
print(json.dumps({"pid": os.getpid(), "port": port, "fds": [s.fileno() for s in held]}), flush=True)
sys.stdin.read()
"""


def test_close_wait():
    with DoctorNetns() as ns:
        info = ns.spawn(CLOSE_WAIT_SERVER, "5")
        # A CLOSE_WAIT counts once it is --min-age (2 s) old: poll until it is.
        got = wait_until(lambda: (lambda r: r if [f for f in kinds(r[1], "close-wait")
                                                  if f["evidence"]["count"] == 5] else None)(
            doctor("--netns", ns.name)), 15, interval=0.2)
        check(got is not None, "no close-wait finding within 15 s")
        rc, doc = got or doctor("--netns", ns.name)
        check(rc == 3, f"CLOSE_WAIT: exit {rc}, want 3")
        check(doc["states"]["CLOSE_WAIT"] == 5, f"summary CLOSE_WAIT {doc['states']['CLOSE_WAIT']}")
        cw = [f for f in kinds(doc, "close-wait") if f["process"] and f["process"]["pid"] == info["pid"]]
        if check(len(cw) == 1, f"one close-wait finding for pid {info['pid']}: {kinds(doc, 'close-wait')}"):
            f = cw[0]
            check(f["severity"] == "warning", f"severity {f['severity']}")
            check(f["evidence"]["count"] == 5, f"count {f['evidence']['count']}")
            check(sorted(f["process"]["fds"]) == sorted(info["fds"]),
                  f"fds {f['process']['fds']} != {info['fds']}")
            check(f["process"]["nofile_soft"] == 512, f"nofile_soft {f['process']['nofile_soft']}")
            check(f["process"]["nofile_hard"] == 4096, f"nofile_hard {f['process']['nofile_hard']}")
            check(f["process"]["fd_count"] >= 6, f"fd_count {f['process']['fd_count']}")
            check("python" in (f["process"]["cmdline"] or ""), f"cmdline {f['process']['cmdline']}")
            check(f["local_port"] == info["port"], f"local_port {f['local_port']}")
            check(f["evidence"]["unread_bytes"] == 0, f"unread {f['evidence']['unread_bytes']}")
            check(f["evidence"]["age_min_ms"] is not None, "age from tcp_info")
        orphans = kinds(doc, "fin-wait-2-orphan")
        check(len(orphans) == 1 and orphans[0]["evidence"]["count"] == 5 and
              isinstance(orphans[0]["sysctls"].get("net.ipv4.tcp_fin_timeout"), int),
              f"orphaned FIN_WAIT_2 with tcp_fin_timeout: {orphans}")
        # Text report: the summary rows, the culprit and the limit.
        rc, out, err = run_tcpstate(["doctor", "--netns", ns.name])
        check(rc == 3, f"text exit {rc}")
        for word in ("CLOSE_WAIT", "TIME_WAIT", f"pid {info['pid']}", "of 512 (RLIMIT_NOFILE",
                     "[WARNING] CLOSE_WAIT sockets held by a program"):
            check(word in out, f"text report lacks {word!r}")
        # Without a verb it is the same report with the same exit status.
        rc, out, err = run_tcpstate(["--netns", ns.name])
        check(rc == 3 and "CLOSE_WAIT" in out and "Findings" in out, f"tcpstate --netns: {rc}")
        rc, out, err = run_tcpstate(["--netns", ns.name, "--fail-on", "critical"])
        check(rc == 0, f"tcpstate --netns --fail-on critical: {rc}")
        # Thresholds and severities.
        rc, doc = doctor("--netns", ns.name, "--close-wait-min", "6")
        check(not kinds(doc, "close-wait"), "--close-wait-min 6 silences 5 CLOSE_WAIT")
        rc, doc = doctor("--netns", ns.name, "--close-wait-critical", "5")
        check(any(f["severity"] == "critical" for f in kinds(doc, "close-wait")), "--close-wait-critical 5")
        check(rc == 3, "critical: exit 3")
        rc, doc = doctor("--netns", ns.name, "--fail-on", "critical")
        check(rc == 0, f"--fail-on critical with warnings only: exit {rc}")
        rc, doc = doctor("--netns", ns.name, "--min-severity", "critical")
        check(doc["findings"] == [], "--min-severity critical hides warnings")


def test_leak():
    with Lab(states=["LISTEN"], leak=50) as lab:
        wait_until(lambda: lab.leak, 10)
        server = lab.leak["server_pid"]
        # Sockets count once they are --min-age (2 s) old: let the leak run past
        # that, so both looks see old sockets and the rate is the leak's.
        check(wait_until(lambda: len(ss(lab.netns, "state", "close-wait")) >= 50 * 3, 30),
              "the lab's leak never reached 150 CLOSE_WAIT sockets")
        rc, doc = doctor("--netns", lab.netns, "--interval", "2")
        check(doc["interval"] == 2, "interval in the JSON")
        leaks = [f for f in kinds(doc, "leak") if f["process"]["pid"] == server]
        if check(len(leaks) == 1, f"leak finding for the leak server {server}: {kinds(doc, 'leak')}"):
            ev = leaks[0]["evidence"]
            check(ev["rate_per_s"] > 5, f"rate {ev['rate_per_s']}")
            check(ev["count"] > ev["count_before"], f"count {ev['count_before']} -> {ev['count']}")
            check(ev["seconds_to_limit"] is not None and ev["seconds_to_limit"] > 0,
                  f"seconds_to_limit {ev['seconds_to_limit']}")
            check(ev["limit"] == leaks[0]["process"]["nofile_soft"], "limit is RLIMIT_NOFILE")
        rc, out, err = run_tcpstate(["doctor", "--netns", lab.netns, "--interval", "1"], timeout=60)
        check("reaches RLIMIT_NOFILE" in out and "/s" in out, "text leak report")


# The server never closes; the client (another process) shuts down its side and
# keeps the socket: its end is FIN_WAIT_2, blamed on the server's program.
FW2_SERVER = r"""
import json, os, socket, sys
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(8)
print(json.dumps({"pid": os.getpid(), "port": l.getsockname()[1]}), flush=True)
conns = []
l.settimeout(30)
conns.append(l.accept()[0])
sys.stdin.read()
"""
FW2_CLIENT = r"""
import json, os, socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.shutdown(socket.SHUT_WR)
time.sleep(0.3)
print(json.dumps({"pid": os.getpid(), "fd": c.fileno(), "port": c.getsockname()[1]}), flush=True)
sys.stdin.read()
"""


def test_fin_wait_2_peer():
    with DoctorNetns() as ns:
        server = ns.spawn(FW2_SERVER)
        client = ns.spawn(FW2_CLIENT, str(server["port"]))
        # FIN_WAIT_2 counts once it is --min-age (2 s) old: poll until it is.
        doc = wait_until(lambda: (lambda d: d if kinds(d, "fin-wait-2-peer") else None)(
            doctor("--netns", ns.name)[1]), 15, interval=0.2) or doctor("--netns", ns.name)[1]
        fw = kinds(doc, "fin-wait-2-peer")
        if check(len(fw) == 1, f"one fin-wait-2-peer finding: {fw}"):
            f = fw[0]
            check(f["remote"]["port"] == server["port"], f"remote port {f['remote']}")
            check(f["remote"]["addr"] == "127.0.0.1", f"remote addr {f['remote']}")
            check(f.get("peer_process", {}).get("pid") == server["pid"],
                  f"peer process {f.get('peer_process')} != server {server['pid']}")
            check(f["process"]["pid"] == client["pid"] and client["fd"] in f["process"]["fds"],
                  f"held by the client {f['process']}")
        rc, out, err = run_tcpstate(["doctor", "--netns", ns.name])
        check(f"the program at 127.0.0.1:{server['port']} (remote side) has not closed" in out,
              "text names the remote side")


ACCEPT_FULL = r"""
import json, os, socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
port = l.getsockname()[1]
cs = []
for _ in range(4):
    c = socket.socket(); c.setblocking(False)
    try:
        c.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    cs.append(c)
time.sleep(0.5)
print(json.dumps({"pid": os.getpid(), "port": port, "fd": l.fileno()}), flush=True)
sys.stdin.read()
"""


def test_accept_queue():
    with DoctorNetns() as ns:
        info = ns.spawn(ACCEPT_FULL)
        rc, doc = doctor("--netns", ns.name)
        aq = kinds(doc, "accept-queue")
        if check(len(aq) == 1, f"one accept-queue finding: {aq}"):
            f = aq[0]
            check(f["severity"] == "critical", f"severity {f['severity']}")
            check(f["local_port"] == info["port"], f"port {f['local_port']}")
            check(f["evidence"]["count"] >= f["evidence"]["limit"] == 1, f"evidence {f['evidence']}")
            check(f["process"]["pid"] == info["pid"] and f["process"]["fds"] == [info["fd"]],
                  f"listener holder {f['process']}")
        check(rc == 3, f"exit {rc}")


def test_clean():
    with DoctorNetns() as ns:
        rc, doc = doctor("--netns", ns.name)
        check(rc == 0, f"clean namespace: exit {rc}")
        check(doc["findings"] == [], f"clean namespace findings: {doc['findings']}")
        check(len([k for k in doc["states"] if k not in ("UNKNOWN", "total")]) == 13, "13 state rows")
        rc, out, err = run_tcpstate(["doctor", "--netns", ns.name])
        check(rc == 0 and "No findings" in out and "CLOSE_WAIT" in out and "TIME_WAIT" in out,
              f"clean text report: {rc} {out!r}")


def test_usage():
    for args, word in ((["doctor", "--min-severity", "bad"], "bad"),
                       (["doctor", "--fail-on", "nope"], "nope"),
                       (["doctor", "--interval", "0"], "0"),
                       (["doctor", "--close-wait-min", "x"], "x"),
                       (["doctor", "--bogus"], "bogus")):
        rc, out, err = run_tcpstate(args)
        check(rc == 2, f"{args}: exit {rc}, want 2")
        check(word in err, f"{args}: message does not name {word!r}: {err!r}")
    rc, out, err = run_tcpstate(["doctor", "--help"])
    check(rc == 0 and "Exit status" in out and "--close-wait-min N [1]" in out, "doctor --help")
    rc, out, err = run_tcpstate(["doctor", "--netns", "tsdoc-no-such-ns"])
    check(rc == 1 and "tsdoc-no-such-ns" in err, f"missing namespace: {rc} {err!r}")


def main():
    skip_unless_root()
    tests = (test_usage, test_clean, test_close_wait, test_fin_wait_2_peer, test_accept_queue,
             test_leak)
    # Any exception fails its test only: the others still run.
    run_named([(t.__name__, t) for t in tests], "doctor", sys.argv[1:], catch=(Exception,))


if __name__ == "__main__":
    main()
