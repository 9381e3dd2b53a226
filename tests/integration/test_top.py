#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tcpstate top: --batch blocks (and --batch --json objects) match summary for
the same moment; a leak shows
growth and its process first with the doctor's time to RLIMIT_NOFILE; the
screen at 80x24 in a pty draws the header, quits on q with exit 0 and leaves the
terminal as it found it; without privileges one clear message and exit 1."""

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(__file__))
from tslab import (Lab, bpf_option, check, need_programs, run_named, run_tcpstate,  # noqa: E402
                   skip_unless_root, ss, tcpstate_path, wait_until)

after_keys = ""
STATE_CELL = re.compile(r"([A-Z][A-Z_0-9]+)\s+(\d+)\s+(\S+)")


def blocks(out):
    """The --batch output as blocks of lines (an empty line between blocks
    follows the doctor's section, the block's last)."""
    result, cur = [], []
    for line in out.splitlines():
        if line.startswith("tcpstate top - ") and cur:
            result.append(cur)
            cur = []
        cur.append(line)
    if cur:
        result.append(cur)
    return result


def state_counts(block):
    """{STATE: (count, rate text)} from a block's state lines."""
    counts = {}
    start = block.index(next(l for l in block if l.startswith("STATE ") and "/s" in l))
    for line in block[start + 1:]:
        if not line.strip():
            break
        for name, n, rate in STATE_CELL.findall(line):
            counts[name] = (int(n), rate)
        if "total" in line:
            counts["total"] = (int(line.split("total")[1].split()[0]), "-")
    return counts


def process_rows(block):
    """The closing-socket rows by process: [(pid, comm, close_wait, total, grow)]."""
    i = block.index(next(l for l in block if l.startswith("Closing sockets by process")))
    rows = []
    for line in block[i + 2:]:
        if not line.strip() or line.strip() == "none" or line.strip().startswith("..."):
            break
        f = line.split()
        rows.append((int(f[0]), f[1], int(f[2]), int(f[4]), f[5], f[7]))
    return rows


def summary_states(netns):
    rc, out, err = run_tcpstate(["summary", "--netns", netns, "--json"], timeout=60)
    check(rc == 0, f"summary exit {rc}: {err}")
    return json.loads(out)["states"]


def test_batch_matches_summary():
    """Nothing changes in the lab: both blocks count what summary counts at
    the same moment (summary before and after agree), rates 0."""
    with Lab(states=["LISTEN", "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_2", "IDLE", "BOUND",
                     "CLOSED"], count=3) as lab:
        for attempt in range(3):
            before = summary_states(lab.netns)
            rc, out, err = run_tcpstate(["top", "--batch", "-n", "2", "-d", "0.5", "--netns",
                                         lab.netns], timeout=60)
            after = summary_states(lab.netns)
            if before == after:
                break
        check(rc == 0, f"top --batch exit {rc}: {err}")
        check(before == after, f"the lab kept changing: {before} vs {after}")
        bl = blocks(out)
        check(len(bl) == 2, f"two blocks for -n 2, got {len(bl)}: {out}")
        for k, b in enumerate(bl):
            counts = state_counts(b)
            want = {s: n for s, n in before.items() if s != "UNKNOWN" or n}
            got = {s: n for s, (n, _) in counts.items()}
            check(got == want, f"block {k + 1}: top {got} != summary {want}")
            rates = {r for s, (_, r) in counts.items() if s != "total"}
            check(rates == ({"-"} if k == 0 else {"0"}),
                  f"block {k + 1}: rates {rates} (first: none yet, then 0)")
        check(bl[0][0].startswith("tcpstate top - ") and f"netns {lab.netns}" in bl[0][0],
              f"header names the namespace: {bl[0][0]!r}")
        # The lab's holder holds the CLOSE_WAIT and CLOSED sockets: it is listed.
        holders = {r[0] for r in process_rows(bl[1])}
        check(set(lab.pids) & holders, f"a lab process among the holders: {holders} {lab.pids}")


def json_lines(out):
    """top --batch --json's output: one JSON object per line, nothing else."""
    return [json.loads(line) for line in out.splitlines()]


def test_batch_json_matches_summary():
    """--batch --json: one object per refresh with the counts summary --json
    gives at the same moment, no rates in the first, 0 in the second, and the
    lab's holder among the processes holding closing sockets."""
    with Lab(states=["LISTEN", "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_2", "IDLE", "BOUND",
                     "CLOSED"], count=3) as lab:
        for attempt in range(3):
            before = summary_states(lab.netns)
            rc, out, err = run_tcpstate(["top", "--batch", "--json", "-n", "2", "-d", "0.5",
                                         "--netns", lab.netns], timeout=60)
            after = summary_states(lab.netns)
            if before == after:
                break
        check(rc == 0, f"top --batch --json exit {rc}: {err}")
        check(before == after, f"the lab kept changing: {before} vs {after}")
        try:
            docs = json_lines(out)
        except ValueError as e:
            check(False, f"not JSON Lines: {e}: {out!r}")
            return
        if not check(len(docs) == 2, f"two objects for -n 2, got {len(docs)}"):
            return
        for k, d in enumerate(docs):
            check(d.get("states") == before, f"object {k + 1}: {d.get('states')} != summary {before}")
            check(d.get("refresh") == k + 1, f"refresh numbered: {d.get('refresh')}")
            check(d.get("netns") == [lab.netns], f"the namespace: {d.get('netns')}")
            for key in ("schema_version", "generated_at", "delay_s", "interval_s", "owners",
                        "states_per_s", "view", "sort_by", "top_closing", "top_closing_omitted",
                        "stuck", "stuck_omitted", "findings"):
                check(key in d, f"object {k + 1} has {key}")
        check(docs[0]["states_per_s"] is None and docs[0]["interval_s"] is None,
              f"first refresh: no rates yet: {docs[0]['states_per_s']} {docs[0]['interval_s']}")
        rates = docs[1]["states_per_s"] or {}
        check(set(rates.values()) == {0} and set(rates) == set(before) - {"total"},
              f"second refresh: every state's rate is 0: {rates}")
        check(docs[1]["interval_s"] and docs[1]["interval_s"] >= 0.5,
              f"interval at least the delay: {docs[1]['interval_s']}")
        rows = docs[1]["top_closing"]
        holders = {r["pid"] for r in rows}
        check(set(lab.pids) & holders, f"a lab process among the holders: {holders} {lab.pids}")
        for r in rows:
            check(r["total"] == sum(r[st] for st in ("CLOSE_WAIT", "FIN_WAIT_1", "FIN_WAIT_2",
                                                      "LAST_ACK", "CLOSING", "CLOSED")),
                  f"a row's total is its closing states': {r}")
            check(r["growth_per_s"] == 0, f"nothing grows in the lab: {r}")
            check(isinstance(r["fd_count"], int) and isinstance(r["comm"], str),
                  f"the holder's open files: {r}")
        stuck = docs[1]["stuck"]
        check(stuck and all(x["state"] in ("CLOSE_WAIT", "FIN_WAIT_2", "CLOSED") and
                            x["pid"] in lab.pids for x in stuck),
              f"the lab's closing sockets among the oldest stuck: {stuck}")


def test_leak_grows_first():
    with Lab(states=["LISTEN"], leak=50) as lab:
        wait_until(lambda: lab.leak, 10)
        server = lab.leak["server_pid"]
        check(wait_until(lambda: len(ss(lab.netns, "state", "close-wait")) >= 100, 30),
              "the lab's leak never reached 100 CLOSE_WAIT sockets")
        rc, out, err = run_tcpstate(["top", "-b", "-n", "2", "-d", "2", "--netns", lab.netns],
                                    timeout=60)
        check(rc == 0, f"top exit {rc}: {err}")
        bl = blocks(out)
        if not check(len(bl) == 2, f"two blocks: {out}"):
            return
        rows = process_rows(bl[1])
        if not check(rows, f"holders listed: {bl[1]}"):
            return
        pid, comm, cw, total, grow, limit_in = rows[0]
        check(pid == server, f"the leak server {server} first: {rows}")
        check(grow != "-" and float(grow) > 0, f"growth > 0: {grow}")
        check(re.fullmatch(r"\d+[smhd](\d+[smh])?", limit_in),
              f"time to RLIMIT_NOFILE from the doctor's leak rule: {limit_in!r}")
        states = state_counts(bl[1])
        check(float(states["CLOSE_WAIT"][1]) > 0, f"CLOSE_WAIT per second > 0: {states}")
        check(any("leak" in l.lower() or "growing" in l.lower() for l in bl[1]),
              f"the doctor's leak finding: {bl[1]}")
        # The same as JSON: the leaking process first, growing, with a time to its limit.
        rc, out, err = run_tcpstate(["top", "-b", "--json", "-n", "2", "-d", "2", "--netns",
                                     lab.netns], timeout=60)
        check(rc == 0, f"top --json exit {rc}: {err}")
        docs = json_lines(out)
        if check(len(docs) == 2 and docs[1]["top_closing"], f"two objects with rows: {out}"):
            first = docs[1]["top_closing"][0]
            check(first["pid"] == server, f"the leak server {server} first: {first}")
            check(first["growth_per_s"] > 0, f"growth > 0: {first}")
            check(isinstance(first["seconds_to_limit"], (int, float)) and
                  first["nofile_soft"] and first["fd_count"] < first["nofile_soft"],
                  f"time to RLIMIT_NOFILE, open files and the limit: {first}")
            check(docs[1]["states_per_s"]["CLOSE_WAIT"] > 0,
                  f"CLOSE_WAIT per second > 0: {docs[1]['states_per_s']}")
            check(any(f["kind"] == "leak" and f["pid"] == server for f in docs[1]["findings"]),
                  f"the doctor's leak finding: {docs[1]['findings']}")
        # Another view and sort by name.
        rc, out, err = run_tcpstate(["top", "-b", "-n", "1", "--view", "ports", "--sort",
                                     "total", "--netns", lab.netns], timeout=60)
        check(rc == 0 and "Closing sockets by port (sort: total)" in out,
              f"--view ports: {rc} {err} {out}")


def pty_run(args, keys_after, timeout=30):
    """Runs tcpstate in a new 80x24 pty; once the output shows keys_after[0],
    types keys_after[1]. Returns (rc, output, termios before, termios after);
    self.after_keys (a module global) gets what came after the keys."""
    global after_keys
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    before = termios.tcgetattr(slave)
    env = dict(os.environ, TERM="xterm", LINES="24", COLUMNS="80")
    p = subprocess.Popen([tcpstate_path()] + args, stdin=slave, stdout=slave, stderr=slave,
                         env=env, start_new_session=True)
    out = b""
    sent = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    out += os.read(master, 65536)
                except OSError:
                    break
            if not sent and keys_after[0].encode() in out:
                if callable(keys_after[1]):
                    keys_after[1](p)
                else:
                    os.write(master, keys_after[1].encode())
                sent = True
                mark = len(out)
            if p.poll() is not None and not r:
                break
        rc = p.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    after_keys = out[mark:].decode(errors="replace") if sent else ""
    after = termios.tcgetattr(slave)
    os.close(slave)
    os.close(master)
    return rc, out.decode(errors="replace"), before, after


def test_screen_80x24_quits_on_q():
    with Lab(states=["CLOSE_WAIT"]) as lab:
        rc, out, before, after = pty_run(["top", "-d", "1", "--netns", lab.netns],
                                         ("q quit", "q"))
        check("tcpstate top - " in out, f"header drawn: {out[-2000:]!r}")
        check("Closing sockets by process" in out and "Doctor findings" in out,
              f"every section fits in 80x24: {out[-2000:]!r}")
        check(rc == 0, f"exit {rc} after q")
        check(before == after, "the terminal's modes are restored after q")
        check("\x1b[?1049l" in out, "the alternate screen is left")
        # A view key redraws, then q.
        rc, out, before, after = pty_run(["top", "-d", "5", "--netns", lab.netns],
                                         ("q quit", "oq"))
        # ncurses sends only what changed: the ports table's own column names.
        check(rc == 0 and "C_WAIT" in after_keys, f"o switches to ports: {rc} {after_keys!r}")
        # SIGTERM ends it as q does: exit 0, the terminal restored.
        rc, out, before, after = pty_run(["top", "-d", "5", "--netns", lab.netns],
                                         ("q quit", lambda p: p.send_signal(signal.SIGTERM)))
        check(rc == 0 and before == after, f"SIGTERM: exit {rc}, terminal restored")


def test_no_terminal_needs_batch():
    rc, out, err = run_tcpstate(["top", "-n", "1"])
    check(rc == 1 and "--batch" in err and not out, f"no tty: {rc} {err!r} {out!r}")


def test_unprivileged():
    """As nobody: one clear message and exit 1 (the BPF program cannot be kept);
    --owners proc runs without it."""
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", tcpstate_path()]
    r = subprocess.run(nobody + ["top", "-b", "-n", "1"], capture_output=True, text=True,
                       timeout=60)
    if bpf_option() == "disabled":
        check(r.returncode == 0, f"no BPF built: top walks /proc: {r.returncode} {r.stderr}")
    else:
        lines = r.stderr.strip().splitlines()
        check(r.returncode == 1, f"exit {r.returncode}, want 1: {r.stderr}")
        check(len(lines) == 1 and "not permitted" in lines[0] and "--owners proc" in lines[0],
              f"one clear message: {r.stderr!r}")
        check(r.stdout == "", f"nothing on stdout: {r.stdout!r}")
    r = subprocess.run(nobody + ["top", "-b", "-n", "1", "--owners", "proc"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and r.stdout.startswith("tcpstate top - "),
          f"--owners proc as nobody: {r.returncode} {r.stderr}")


def test_usage():
    for args, word in ((["top", "-d", "0"], "--delay"), (["top", "-n", "0"], "--iterations"),
                       (["top", "--view", "x"], "--view"), (["top", "--sort", "x"], "--sort"),
                       (["top", "--json"], "--batch"), (["top", "-j", "-n", "1"], "--batch")):
        rc, out, err = run_tcpstate(args)
        check(rc == 2 and word in err, f"{args}: {rc} {err!r}")


def main():
    skip_unless_root()
    need_programs("setpriv", "ss")
    run_named([
        ("batch_matches_summary", test_batch_matches_summary),
        ("batch_json_matches_summary", test_batch_json_matches_summary),
        ("leak_grows_first", test_leak_grows_first),
        ("screen_80x24_quits_on_q", test_screen_80x24_quits_on_q),
        ("no_terminal_needs_batch", test_no_terminal_needs_batch),
        ("unprivileged", test_unprivileged),
        ("usage", test_usage),
    ], "top", only=sys.argv[1:])


if __name__ == "__main__":
    main()
