# SPDX-License-Identifier: MIT
"""tcpstate lab: the states are real, and nothing is left behind on any exit path."""

import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import (ALL_STATES, TCP_BOUND_INACTIVE, Lab, check, diag_dump,  # noqa: E402
                   lab_lock_exists, netns_exists, pid_alive, run_named, run_tcpstate,
                   skip_unless_root, ss, tcpstate_path, wait_until)

# ss(8) names for the states the kernel dumps; BOUND, IDLE and CLOSED are in no dump ss 6.1 makes.
SS_STATE = {
    "LISTEN": "listening", "ESTABLISHED": "established", "SYN_SENT": "syn-sent",
    "SYN_RECEIVED": "syn-recv", "FIN_WAIT_1": "fin-wait-1", "FIN_WAIT_2": "fin-wait-2",
    "CLOSE_WAIT": "close-wait", "LAST_ACK": "last-ack", "CLOSING": "closing",
    "TIME_WAIT": "time-wait",
}
TCP_CLOSE = 7
NO_OWNER_STATES = {"TIME_WAIT", "SYN_RECEIVED"}


def addr_port(s):
    addr, _, port = s.rpartition(":")
    return addr, int(port) if port != "*" else None


def fd_inode(pid, fd):
    """The socket inode behind /proc/PID/fd/FD, or None (a failed check) when it is no socket."""
    link = os.readlink(f"/proc/{pid}/fd/{fd}")
    m = re.fullmatch(r"socket:\[(\d+)\]", link)
    if not check(m, f"/proc/{pid}/fd/{fd} is {link}, not a socket"):
        return None
    return int(m.group(1))


def ss_entries(netns, state):
    """[(local_addr, local_port, peer_addr, peer_port, ino)] for one state, checked by ss itself."""
    out = []
    for cols in ss(netns, "-e", "state", SS_STATE[state]):
        # With one state ss drops its State column: Recv-Q Send-Q Local Peer [extras].
        local, peer = cols[2], cols[3]
        ino = next((int(c[4:]) for c in cols[4:] if c.startswith("ino:")), 0)
        out.append(addr_port(local) + addr_port(peer) + (ino,))
    return out


def test_all_states_are_real():
    with Lab() as lab:
        targets = {s["state"] for s in lab.targets()}
        check(targets == set(ALL_STATES), f"missing targets: {set(ALL_STATES) - targets}")
        check(lab.events[0]["event"] == "netns", f"first event {lab.events[0]}, want netns")
        ready = [e for e in lab.events if e["event"] == "ready"][0]
        check(ready["netns"] == lab.netns, f"ready names {ready['netns']}, want {lab.netns}")
        check(ready["inspect"] == f"tcpstate list --netns {lab.netns}",
              f"ready's inspect command: {ready['inspect']!r}")
        check(netns_exists(lab.netns), f"namespace {lab.netns} does not exist")
        check(lab.peers(), "the recipes' peer sockets are reported too")

        for s in lab.sockets:
            for key in ("state", "target", "family", "local_addr", "local_port", "remote_addr",
                        "remote_port", "pid", "fd", "how", "lasts"):
                check(key in s, f"{key} missing in {s}")
            check(s.get("family") == "inet", f"family is not inet: {s}")
            check(s.get("how") and s.get("lasts"), f"how or lasts empty: {s}")

        everything = ss(lab.netns, "-e")  # every state ss knows
        all_inodes = {int(c[4:]) for cols in everything for c in cols if c.startswith("ino:")}

        for t in lab.targets():
            state = t["state"]
            ino = None
            if state in NO_OWNER_STATES:
                check(t["pid"] is None and t["fd"] is None, f"{state} has an owner: {t}")
            elif check(t["pid"] in lab.pids and t["fd"] is not None,
                       f"{state} has no owner the lab reported: {t}"):
                ino = fd_inode(t["pid"], t["fd"])
            if state not in SS_STATE:
                if ino is None:
                    continue  # failed above
                # Held, yet in no dump ss 6.1 can make: BOUND, IDLE, CLOSED.
                check(ino not in all_inodes, f"{state} socket {ino} listed by ss")
                # The kernel's own dump (with TCP_BOUND_INACTIVE, Linux >= 6.8) tells
                # BOUND from IDLE and CLOSED, which are in no dump at all.
                dumped = {d["inode"]: d for d in diag_dump(lab.netns)}
                if state == "BOUND":
                    # Asked for with TCPF_BOUND_INACTIVE; 6.18 labels it TCP_CLOSE.
                    if check(ino in dumped and dumped[ino]["kstate"] in (TCP_CLOSE,
                                                                         TCP_BOUND_INACTIVE),
                             f"BOUND socket {ino} not dumped as bound-inactive: {dumped.get(ino)}"):
                        check(dumped[ino]["sport"] == t["local_port"],
                              f"BOUND socket {ino} dumped with port {dumped[ino]['sport']}, "
                              f"want {t['local_port']}")
                else:
                    check(ino not in dumped, f"{state} socket {ino} dumped: {dumped.get(ino)}")
                continue
            # The state is polled with a deadline: the kernel gets there by itself.
            def found():
                for la, lp, ra, rp, sino in ss_entries(lab.netns, state):
                    if la == t["local_addr"] and lp == t["local_port"] and (
                            t["remote_port"] is None or (ra == t["remote_addr"] and
                                                         rp == t["remote_port"])):
                        return (sino,)
                return None
            hit = wait_until(found, 5)
            if not check(hit, f"ss does not show {state} {t['local_port']}->{t['remote_port']}: "
                         f"{ss_entries(lab.netns, state)}"):
                continue
            if t["fd"] is not None and hit[0] and ino is not None:
                check(hit[0] == ino, f"{state}: ss inode {hit[0]} != fd inode {ino}")
        pids = lab.pids
        rc = lab.stop(signal.SIGINT)
        check(rc == 0, f"SIGINT: exit {rc}")
        check(lab.exit_event and lab.exit_event["reason"] == "signal",
              f"SIGINT: exit event {lab.exit_event}, want reason signal")
        check(not any(pid_alive(p) for p in pids), f"processes left: "
              f"{[p for p in pids if pid_alive(p)]}")
        check(not netns_exists(lab.netns), f"namespace {lab.netns} left behind")


def test_sigterm_cleans_up():
    lab = Lab(states=["established", "syn-sent"])
    lab.start()
    check(netns_exists(lab.netns), f"namespace {lab.netns} does not exist")
    rc = lab.stop(signal.SIGTERM)  # raises if anything is left
    check(rc == 0, f"SIGTERM: exit {rc}")
    check(lab.exit_event["reason"] == "signal" and lab.exit_event["signal"] == "SIGTERM",
          f"SIGTERM: exit event {lab.exit_event}")
    check(lab.netns not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                          text=True).stdout,
          f"`ip netns list` still lists {lab.netns}")


def test_killed_child_tears_down():
    lab = Lab(states=["CLOSE_WAIT"])
    lab.start()
    holder = lab.targets("CLOSE_WAIT")[0]["pid"]
    os.kill(holder, signal.SIGKILL)
    rc = lab.wait_exit(15)
    check(rc == 1, f"exit {rc} after a child was killed")
    check(lab.exit_event and lab.exit_event["reason"] == "child-died"
          and lab.exit_event["pid"] == holder,
          f"exit event {lab.exit_event}, want child-died of {holder}")
    lab.stop()  # nothing left to end; raises on leftovers
    err = lab.stderr()
    check("killed" in err, f"stderr does not say killed: {err!r}")


def kill_supervisor(lab):
    """SIGKILLs the lab process itself: its children die with it (PDEATHSIG),
    its namespace stays. Returns once the children are gone."""
    pids = lab.pids
    lab.proc.kill()
    lab.proc.wait(10)
    check(wait_until(lambda: not any(pid_alive(p) for p in pids), 10), "children outlived the lab")
    check(netns_exists(lab.netns) and lab_lock_exists(lab.netns),
          f"namespace or lock of the killed lab {lab.netns} gone before any cleanup")


def test_killed_supervisor_cleanup():
    dead = Lab(states=["LISTEN"])
    alive = Lab(states=["LISTEN"])
    dead.start()
    try:
        alive.start()
        kill_supervisor(dead)
        rc, out, err = run_tcpstate(["lab", "--cleanup"])
        check(rc == 0, f"lab --cleanup: exit {rc}: {err}")
        check(dead.netns in err and "killed" in err,
              f"lab --cleanup does not name the killed lab {dead.netns}: {err!r}")
        check(not netns_exists(dead.netns) and not lab_lock_exists(dead.netns),
              f"lab --cleanup left the namespace or lock of {dead.netns}")
        # A live lab (its lock is held) is never taken for a dead one.
        check(netns_exists(alive.netns) and lab_lock_exists(alive.netns),
              f"lab --cleanup removed the live lab {alive.netns}")
        check(alive.proc.poll() is None, "lab --cleanup ended the live lab")
        rc, out, err = run_tcpstate(["lab", "--cleanup"])
        check(rc == 0 and "no stale" in err, f"second lab --cleanup: exit {rc}: {err!r}")
        rc, _, err = run_tcpstate(["lab", "--cleanup", "LISTEN"])
        check(rc == 2, f"lab --cleanup LISTEN: exit {rc}, want 2: {err!r}")
        rc = alive.stop()
        check(rc == 0, f"live lab: exit {rc} on SIGINT")
    finally:
        dead.stop(check=False)
        alive.stop(check=False)


def test_cleanup_leaves_what_is_not_dead():
    """A namespace without a lock file is not judged; a lock file without a
    namespace goes when free and stays while held."""
    import fcntl
    legacy = "tslab-%08x" % int.from_bytes(os.urandom(4), "big")
    free_lock = "/run/tcpstate/tslab-%08x.lock" % int.from_bytes(os.urandom(4), "big")
    held_lock = "/run/tcpstate/tslab-%08x.lock" % int.from_bytes(os.urandom(4), "big")
    os.makedirs("/run/tcpstate", exist_ok=True)
    subprocess.run(["ip", "netns", "add", legacy], check=True)
    held = None
    try:
        open(free_lock, "w").close()
        held = open(held_lock, "w")
        fcntl.flock(held, fcntl.LOCK_EX)
        rc, _, err = run_tcpstate(["lab", "--cleanup"])
        check(rc == 0, f"lab --cleanup: exit {rc}: {err}")
        check(legacy not in err and netns_exists(legacy),
              f"a namespace without a lock file was judged: {err!r}")
        check(not os.path.exists(free_lock), "a free lock without a namespace stayed")
        check(os.path.exists(held_lock), "a held lock was removed")
    finally:
        subprocess.run(["ip", "netns", "del", legacy], capture_output=True)
        for path in (free_lock, held_lock):
            if os.path.exists(path):
                os.unlink(path)
        if held:
            held.close()


def test_next_lab_removes_killed_ones():
    dead = Lab(states=["LISTEN"])
    dead.start()
    try:
        kill_supervisor(dead)
        rc, out, err = run_tcpstate(["lab", "--json", "--hold", "0", "LISTEN"], timeout=30)
        events = [json.loads(line) for line in out.splitlines()]
        check(rc == 0, f"lab --hold 0: exit {rc}: {err}")
        check({"event": "stale-removed", "name": dead.netns} in events,
              f"no stale-removed event for {dead.netns}: {events}")
        check(not netns_exists(dead.netns) and not lab_lock_exists(dead.netns),
              f"the next lab left the namespace or lock of {dead.netns}")
    finally:
        dead.stop(check=False)


def test_hold_ends_by_itself():
    start = time.monotonic()
    rc, out, err = run_tcpstate(["lab", "--json", "--hold", "2", "LISTEN"], timeout=30)
    events = [json.loads(line) for line in out.splitlines()]
    name = events[0]["name"]
    check(rc == 0, f"--hold 2: exit {rc}: {err}")
    check(events[-1] == {"event": "exit", "reason": "hold"}, f"last event {events[-1]}")
    check(time.monotonic() - start >= 2, "--hold 2 ended before 2 s")
    check(not netns_exists(name), f"namespace {name} left behind")


def test_usage_errors():
    rc, _, err = run_tcpstate(["lab", "LISTEN", "NOT_A_STATE"])
    check(rc == 2 and "NOT_A_STATE" in err, f"lab NOT_A_STATE: exit {rc}: {err!r}")
    rc, _, err = run_tcpstate(["lab", "--count", "12x"])
    check(rc == 2 and "12x" in err, f"lab --count 12x: exit {rc}: {err!r}")
    rc, _, err = run_tcpstate(["lab", "--hold", "-1"])
    check(rc == 2 and "-1" in err, f"lab --hold -1: exit {rc}: {err!r}")
    rc, out, _ = run_tcpstate(["lab", "--help"])
    check(rc == 0 and "--leak" in out and "--count" in out and "--hold" in out,
          f"lab --help: exit {rc}, lacks --leak, --count or --hold")


def test_leak_grows_close_wait():
    lab = Lab(states=["LISTEN"], leak=50)
    lab.start()
    try:
        if not check(lab.leak and lab.leak["port"] and lab.leak["rate"] == 50,
                     f"leak event {lab.leak}, want a port and rate 50"):
            return

        def close_wait():
            return len([e for e in ss_entries(lab.netns, "CLOSE_WAIT")
                        if e[1] == lab.leak["port"]])
        first = wait_until(close_wait, 5)
        if check(first, "no CLOSE_WAIT from the leak"):
            check(wait_until(lambda: close_wait() >= first + 25, 5),
                  f"CLOSE_WAIT did not grow from {first}: {close_wait()}")
        # A leak child dying is a child dying too.
        os.kill(lab.leak["client_pid"], signal.SIGKILL)
        rc = lab.wait_exit(15)
        check(rc == 1 and lab.exit_event and lab.exit_event["reason"] == "child-died",
              f"leak client killed: exit {rc}, exit event {lab.exit_event}")
    finally:
        lab.stop()


def main():
    skip_unless_root()
    tcpstate_path()
    tests = [(k, v) for k, v in globals().items() if k.startswith("test_") and callable(v)]
    # Any exception fails its test only: the others still run.
    run_named(tests, "lab", sys.argv[1:], catch=(Exception,))


if __name__ == "__main__":
    main()
