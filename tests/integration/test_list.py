# SPDX-License-Identifier: MIT
"""`tcpstate list` / `summary` against real sockets built by the lab:
every one of the 13 states with its ports and owner, a differential check
against `ss -tanp`, kernel-side filters, the /proc/net/tcp fallback,
--all-netns, shared sockets, and usage errors."""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import (check, finish, ALL_STATES, Lab, run_each, run_tcpstate,  # noqa: E402
                   skip_unless_root, wait_until)



def list_json(*args, netns=None):
    rc, out, err = run_tcpstate(["list", "--json", *args] + (["--netns", netns] if netns else []))
    if rc != 0:
        raise AssertionError(f"tcpstate list {args} failed ({rc}): {err}")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def owners_of(sock):
    return {(o["pid"], o["fd"]) for o in sock["owners"]}


def find(listed, lab_sock):
    """The listed socket that is the lab's socket: by owner fd when it has one,
    else by state and ports."""
    for s in listed:
        if lab_sock["pid"] is not None:
            if (lab_sock["pid"], lab_sock["fd"]) in owners_of(s):
                return s
        elif (s["state"] == lab_sock["state"] and s["local_port"] == lab_sock["local_port"]
              and s["remote_port"] == lab_sock["remote_port"]):
            return s
    return None


def test_all_states(lab):
    listed = list_json(netns=lab.netns)
    seen = {s["state"] for s in listed}
    for st in ALL_STATES:
        check(st in seen, f"state {st} missing from tcpstate list")
    for ls in lab.targets():
        s = find(listed, ls)
        check(s is not None, f"lab socket {ls['state']} {ls['local_port']}->{ls['remote_port']} not listed")
        if s is None:
            continue
        check(s["state"] == ls["state"], f"{ls['state']} listed as {s['state']}")
        if ls["state"] != "IDLE":
            check(s["local_port"] == ls["local_port"],
                  f"{ls['state']}: local port {s['local_port']} != {ls['local_port']}")
        if ls["remote_port"] is not None and ls["state"] not in ("CLOSED",):
            check(s["remote_port"] == ls["remote_port"],
                  f"{ls['state']}: remote port {s['remote_port']} != {ls['remote_port']}")
        if ls["pid"] is not None:
            check((ls["pid"], ls["fd"]) in owners_of(s), f"{ls['state']}: owner pid/fd missing")
            check(all(o["comm"] for o in s["owners"]), f"{ls['state']}: empty comm")
        check(s["netns"] == lab.netns, f"{ls['state']}: netns {s['netns']} != {lab.netns}")
        for key in ("family", "local_addr", "inode", "cookie", "recv_q", "send_q", "timer"):
            check(key in s, f"key {key} missing")
    for s in listed:
        if s["state"] in ("IDLE", "CLOSED", "BOUND", "LISTEN"):
            if s["state"] != "CLOSED":
                check(s["remote_port"] is None, f"{s['state']} has a remote port")


SS_STATES = {
    "ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECEIVED",
    "FIN-WAIT-1": "FIN_WAIT_1", "FIN-WAIT-2": "FIN_WAIT_2", "TIME-WAIT": "TIME_WAIT",
    "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK", "LISTEN": "LISTEN",
    "CLOSING": "CLOSING", "UNCONN": "BOUND",
}


def ss_sockets(netns):
    r = subprocess.run(["ip", "netns", "exec", netns, "ss", "-tanpH"], capture_output=True,
                       text=True, timeout=30, check=True)
    out = []
    for line in r.stdout.splitlines():
        f = line.split(None, 5)
        if len(f) < 5:
            continue
        owners = {(int(p), int(fd)) for p, fd in re.findall(r"pid=(\d+),fd=(\d+)", line)}
        lport = int(f[3].rsplit(":", 1)[1])
        rport = f[4].rsplit(":", 1)[1]
        out.append((SS_STATES.get(f[0], f[0]), lport, None if rport == "*" else int(rport), owners))
    return out


def differential(netns):
    """Every socket `ss -tanp` lists appears in tcpstate list with the same
    state and owners. Returns the mismatches (empty when all agree)."""
    ours = {}
    for s in list_json(netns=netns):
        ours.setdefault((s["state"], s["local_port"], s["remote_port"] or None), []).append(owners_of(s))
    bad = []
    for state, lport, rport, owners in ss_sockets(netns):
        cands = ours.get((state, lport, rport), [])
        if owners not in cands:
            bad.append(f"ss: {state} {lport}->{rport} owners {sorted(owners)}; tcpstate: {cands}")
    return bad


def test_differential(lab):
    # Sockets move between the two snapshots only through expiry; retry a few times.
    bad = wait_until(lambda: not differential(lab.netns), 10, interval=0.5)
    if bad is None:
        for line in differential(lab.netns):
            check(False, line)


def test_filters(lab):
    cw = list_json("--state", "close-wait", netns=lab.netns)
    check(cw and all(s["state"] == "CLOSE_WAIT" for s in cw), "--state close-wait")
    lis = lab.targets("LISTEN")[0]
    port = lis["local_port"]
    by_port = list_json("--port", str(port), netns=lab.netns)
    check(by_port and all(port in (s["local_port"], s["remote_port"]) for s in by_port),
          "--port selects either end")
    check(any(s["state"] == "LISTEN" for s in by_port), "--port includes the listener")
    # A server port with a connected client: the client's remote port is it.
    cw_port = lab.targets("CLOSE_WAIT")[0]["local_port"]
    sport = list_json("--sport", str(cw_port), netns=lab.netns)
    check(sport and all(s["local_port"] == cw_port for s in sport), "--sport")
    check(any(s["state"] == "CLOSE_WAIT" for s in sport), "--sport includes the CLOSE_WAIT end")
    dport = list_json("--dport", str(cw_port), netns=lab.netns)
    check(dport and all(s["remote_port"] == cw_port for s in dport), "--dport")
    check(any(s["state"] == "FIN_WAIT_2" for s in dport), "--dport includes the FIN_WAIT_2 end")
    both = list_json("--state", "LISTEN", "--port", str(port), netns=lab.netns)
    check(len(both) == 1 and both[0]["state"] == "LISTEN", "--state + --port are ANDed")
    addr = list_json("--addr", "127.0.0.0/8", netns=lab.netns)
    check(addr and all(s["family"] == "inet" for s in addr), "--addr 127.0.0.0/8")
    none = list_json("--addr", "10.255.255.1", netns=lab.netns)
    check(none == [], "--addr with no match lists nothing")
    fd_only = list_json("--state", "idle,closed", netns=lab.netns)
    check({s["state"] for s in fd_only} == {"IDLE", "CLOSED"}, f"--state idle,closed: {[s['state'] for s in fd_only]}")
    check(all(s["source"] == "fd" for s in fd_only), "IDLE/CLOSED come from fds")
    pid = lab.targets("CLOSE_WAIT")[0]["pid"]
    by_pid = list_json("--pid", str(pid), netns=lab.netns)
    check(by_pid and all(any(o["pid"] == pid for o in s["owners"]) for s in by_pid), "--pid")
    comm = by_pid[0]["owners"][0]["comm"] if by_pid else "x"
    by_comm = list_json("--comm", comm, netns=lab.netns)
    check(by_comm and all(any(o["comm"] == comm for o in s["owners"]) for s in by_comm), "--comm")
    no_owners = list_json("--no-owners", netns=lab.netns)
    check(all(s["owners"] == [] for s in no_owners), "--no-owners lists no owners")
    check(not any(s["state"] in ("IDLE", "CLOSED") for s in no_owners), "--no-owners: no fd-only states")


def test_procfs(lab):
    """The /proc/net/tcp fallback sees the kernel's states like sock_diag does."""
    def key(s):
        return (s["state"], s["local_port"], s["remote_port"])
    kernel_states = "listen,syn-sent,syn-recv,established,fin-wait-1,fin-wait-2,close-wait,last-ack,CLOSING,time-wait"
    def same():
        nl = sorted(key(s) for s in list_json("--state", kernel_states, netns=lab.netns))
        pf = sorted(key(s) for s in list_json("--backend", "procfs", "--state", kernel_states,
                                              netns=lab.netns))
        return nl == pf and nl
    check(wait_until(same, 10, interval=0.5), "procfs backend differs from netlink")
    pf = list_json("--backend", "procfs", netns=lab.netns)
    ls = lab.targets("CLOSE_WAIT")[0]
    s = find(pf, ls)
    check(s is not None and s["state"] == "CLOSE_WAIT", "procfs: CLOSE_WAIT with its owner")


def test_all_netns(lab):
    listed = list_json("--all-netns", "--state", "close-wait")
    mine = [s for s in listed if s["netns"] == lab.netns]
    check(len(mine) >= 1, "--all-netns finds the lab's CLOSE_WAIT, tagged with its namespace")
    rc, out, err = run_tcpstate(["summary", "--all-netns", "--json"])
    check(rc == 0, f"summary --all-netns: {err}")
    doc = json.loads(out)
    names = {n["name"]: n for n in doc["netns"]}
    check(lab.netns in names, "summary --all-netns lists the lab namespace")
    if lab.netns in names:
        counts = names[lab.netns]["states"]
        for st in ALL_STATES:
            check(counts.get(st, 0) >= 1, f"summary: {st} count is {counts.get(st)}")


def test_summary(lab):
    rc, out, err = run_tcpstate(["summary", "--netns", lab.netns, "--json"])
    check(rc == 0, f"summary: {err}")
    doc = json.loads(out)
    for st in ALL_STATES:
        check(st in doc["states"], f"summary lacks a row for {st}")
    pid = lab.targets("CLOSE_WAIT")[0]["pid"]
    check(any(t["pid"] == pid and t["CLOSE_WAIT"] >= 1 for t in doc["top_closing"]),
          "summary names the CLOSE_WAIT holder")
    # Without a verb: the doctor, which opens with the state summary; the lab
    # has findings, so exit 3 (0 would mean none at warning or above).
    # --min-age 0: the lab's CLOSE_WAIT may be younger than the default 2 s.
    rc, out, err = run_tcpstate(["--netns", lab.netns, "--min-age", "0"])
    check(rc == 3 and "CLOSE_WAIT" in out and "TIME_WAIT" in out,
          f"tcpstate alone runs the doctor: {rc} {err}")


SHARED = r"""
import os, socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
print(l.getsockname()[1], l.fileno(), flush=True)
pid = os.fork()
if pid == 0:
    time.sleep(60); os._exit(0)
print(pid, flush=True)
sys.stdin.read()
os.kill(pid, 9)
"""


def test_shared_socket(lab):
    p = subprocess.Popen(["ip", "netns", "exec", lab.netns, sys.executable, "-c", SHARED],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port, fd = map(int, p.stdout.readline().split())
        child = int(p.stdout.readline())
        listed = list_json("--sport", str(port), netns=lab.netns)
        check(len(listed) == 1, "shared listener listed once")
        if listed:
            check(owners_of(listed[0]) == {(p.pid, fd), (child, fd)} or
                  {o["fd"] for o in listed[0]["owners"]} == {fd} and len(listed[0]["owners"]) == 2,
                  f"inherited fd has both owners: {listed[0]['owners']}")
    finally:
        p.stdin.close()
        p.wait(timeout=10)


def test_unprivileged(lab):
    """Without privileges: the dump still works, unreadable processes are
    reported once on stderr (never silently dropped), and entering another
    namespace fails with a clear message."""
    from tslab import tcpstate_path
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", tcpstate_path()]
    r = subprocess.run(drop + ["list"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"unprivileged list exit {r.returncode}: {r.stderr}")
    notes = [l for l in r.stderr.splitlines() if "could not read the open files" in l]
    check(len(notes) == 1, f"one notice about unreadable processes: {r.stderr!r}")
    r = subprocess.run(drop + ["list", "--netns", lab.netns], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 1 and "not permitted" in r.stderr,
          f"unprivileged --netns: {r.returncode} {r.stderr!r}")


def test_usage_errors():
    for args, word in ((["list", "--state", "nope"], "nope"), (["list", "--port", "0"], "0"),
                       (["list", "--port", "x1"], "x1"), (["list", "--addr", "1.2.3"], "1.2.3"),
                       (["list", "--bogus"], "bogus"), (["nosuchverb"], "nosuchverb")):
        rc, out, err = run_tcpstate(args)
        check(rc == 2, f"{args}: exit {rc}, want 2")
        check(word in err, f"{args}: message does not name '{word}': {err!r}")
    rc, out, err = run_tcpstate(["list", "--netns", "tcpstate-no-such-ns"])
    check(rc == 1 and "tcpstate-no-such-ns" in err, f"missing namespace: {rc} {err!r}")
    for verb in (["list"], ["summary"], []):
        rc, out, err = run_tcpstate(verb + ["--help"])
        check(rc == 0 and "Usage" in out, f"{verb} --help")
    rc, out, err = run_tcpstate(["--version"])
    check(rc == 0 and out.startswith("tcpstate "), "--version")


def main():
    skip_unless_root()
    test_usage_errors()
    with Lab() as lab:
        tests = (test_all_states, test_differential, test_filters, test_procfs,
                 test_all_netns, test_summary, test_shared_socket, test_unprivileged)
        # Any exception fails its test only: the others still run.
        run_each([(t.__name__, lambda t=t: t(lab)) for t in tests], sys.argv[1:],
                 catch=(Exception,))
    finish("list")


if __name__ == "__main__":
    main()
