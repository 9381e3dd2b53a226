#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What one `tcpstate top` refresh costs against one `tcpstate list` run (issue 14).

In one namespace filled by bench/sockgen, round robin, --repeat times:

- `tcpstate list --netns NS` and `tcpstate list --info --netns NS` (stdout to
  /dev/null): wall time from fork to exit, CPU time (user + system, of the
  child); `--info` asks the kernel for tcp_info as top does (idle times, ages);
- `tcpstate top --batch --json -n N -d D --netns NS`: each refresh writes one
  JSON line and flushes it; the time between two lines, less the delay, is
  one refresh: snapshot, process facts, settings, listeners, the doctor over
  the last two looks, the frame and its output, everything a screen shows.
  The first refresh (the BPF program's load, no rates) is left out. CPU: the
  process's user + system time (/proc/PID/stat, all threads) read as each
  line arrives, over refreshes 2..N, per refresh.

Reports per repeat and the median of the repeats: list wall and CPU, refresh
wall (median of the run's refreshes) and CPU, and the refresh / list ratios.
Needs root. Standard library only. See bench/README.md ("top refresh").
"""

import argparse
import json
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as benchrun  # noqa: E402  (Namespace, Generator, find_tool, socket_states)
from benchlib import Stop, log, on_signal  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    """utime + stime of every thread of pid, living or ended (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def time_list(tcpstate, ns, limit, extra=()):
    t0 = time.monotonic()
    p = subprocess.Popen([tcpstate, "list", "--netns", ns] + list(extra), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = p.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise RuntimeError("tcpstate list took over %g s" % limit)
    # Reaped: its CPU time is the growth of this process's children's (the caller's
    # children_cpu_s() around it; every other child was reaped before).
    return time.monotonic() - t0, p.returncode, err


def time_top(tcpstate, ns, refreshes, delay, limit):
    """(refresh walls, CPU per refresh, lines): one top --batch --json run."""
    argv = [tcpstate, "top", "--batch", "--json", "-n", str(refreshes), "-d", str(delay),
            "--netns", ns]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    fd = p.stdout.fileno()
    buf, arrivals, cpus, lines = b"", [], [], []
    deadline = time.monotonic() + limit
    try:
        while len(arrivals) < refreshes:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("tcpstate top: %d of %d refreshes in %g s"
                                   % (len(arrivals), refreshes, limit))
            r, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not r:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            now = time.monotonic()
            cpu = proc_cpu_s(p.pid)
            buf += chunk
            while b"\n" in buf:  # a line is complete when its newline arrives
                line, buf = buf.split(b"\n", 1)
                arrivals.append(now)
                cpus.append(cpu)
                lines.append(json.loads(line))
    finally:
        rest, err = p.communicate(timeout=60)
    if p.returncode != 0 or len(arrivals) != refreshes:
        raise RuntimeError("tcpstate top exit %s after %d lines: %s"
                           % (p.returncode, len(arrivals), err.decode(errors="replace")))
    walls = [b - a - delay for a, b in zip(arrivals, arrivals[1:])]
    cpu = (cpus[-1] - cpus[0]) / (refreshes - 1)
    return walls, cpu, lines


def children_cpu_s():
    ru = os.times()
    return ru.children_user + ru.children_system


def machine():
    info = {"kernel": platform.release(), "cpus": os.cpu_count()}
    try:
        with open("/proc/loadavg") as f:
            info["loadavg_before"] = f.read().split()[0]
    except OSError:
        pass
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tcpstate", required=True)
    ap.add_argument("--sockets", type=benchrun.parse_sizes, default=[100000],
                    help="sockets in the namespace (one size; default 100k)")
    ap.add_argument("--repeat", type=int, default=5, help="list runs and top runs (default 5)")
    ap.add_argument("--refreshes", type=int, default=11,
                    help="refreshes per top run, the first left out (default 11)")
    ap.add_argument("--delay", type=float, default=0.3, help="top -d (default 0.3)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sockgen")
    ap.add_argument("--limit", type=float, default=120, help="seconds per run (default 120)")
    ap.add_argument("--ready-timeout", type=float, default=300)
    ap.add_argument("--json", help="write the raw numbers here")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        ap.error("needs root (network namespaces, the BPF owner program)")
    if len(args.sockets) != 1 or args.refreshes < 3 or args.repeat < 1:
        ap.error("one size, --refreshes 3 or more, --repeat 1 or more")
    tcpstate = os.path.abspath(args.tcpstate)
    sockgen = benchrun.find_tool(args.sockgen, "sockgen", tcpstate)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    info = machine()
    ns = gen = None
    rows = []
    try:
        ns = benchrun.Namespace()
        log("sockgen: %d sockets in %s" % (args.sockets[0], ns.name))
        gen = benchrun.Generator(sockgen, ns.name, args.sockets[0], args.seed, args.ready_timeout)
        sockgen_log = gen.stderr()
        gen_reported = gen.reported
        log(sockgen_log)
        states = benchrun.socket_states(ns.name)
        for k in range(args.repeat):
            row = {}
            for key, extra in (("list", ()), ("info", ("--info",))):
                before = children_cpu_s()
                wall, rc, err = time_list(tcpstate, ns.name, args.limit, extra)
                row[key + "_cpu"] = children_cpu_s() - before
                row[key + "_wall"] = wall
                if rc != 0:
                    raise RuntimeError("tcpstate list %s exit %d: %s"
                                       % (" ".join(extra), rc, err.decode(errors="replace")))
            walls, tcpu, lines = time_top(tcpstate, ns.name, args.refreshes, args.delay,
                                          args.limit)
            row.update({"refresh_walls": walls, "refresh_wall": statistics.median(walls),
                        "refresh_cpu": tcpu, "sockets_seen": lines[-1]["states"]["total"],
                        "owners": lines[-1]["owners"]})
            rows.append(row)
            log("repeat %d: list %.3f s wall %.3f s CPU; list --info %.3f / %.3f; refresh %.3f s "
                "wall (median of %d) %.3f s CPU: %.2fx / %.2fx of list"
                % (k + 1, row["list_wall"], row["list_cpu"], row["info_wall"], row["info_cpu"],
                   row["refresh_wall"], len(walls), tcpu, row["refresh_wall"] / row["list_wall"],
                   tcpu / row["list_cpu"]))
    except Stop as e:
        log("stopped by %s" % e)
        return 1
    finally:
        if gen:
            gen.close()
        if ns:
            ns.close()

    med = {k: statistics.median(r[k] for r in rows)
           for k in ("list_wall", "list_cpu", "info_wall", "info_cpu", "refresh_wall",
                     "refresh_cpu")}
    wall_ratios = [r["refresh_wall"] / r["list_wall"] for r in rows]
    cpu_ratios = [r["refresh_cpu"] / r["list_cpu"] for r in rows]
    total = sum(states.values())
    out = print
    if args.markdown:
        out("Machine: kernel %s, %s CPUs, load average %s before; tcpstate %s; owners %s.\n"
            % (info["kernel"], info["cpus"], info.get("loadavg_before", "?"), tcpstate,
               rows[-1]["owners"]))
        out("Sockets (ss): %d; %d repeats, %d refreshes a top run (the first left out), "
            "-d %g.\n" % (total, args.repeat, args.refreshes, args.delay))
        out("| | `list` (one run) | `list --info` (one run) | `top` (one refresh) | "
            "refresh / `list` | refresh / `list --info` |")
        out("|---|---:|---:|---:|---:|---:|")
        for what in ("wall", "cpu"):
            out("| %s s, median | %.3f | %.3f | %.3f | %.2fx | %.2fx |"
                % ("wall" if what == "wall" else "CPU", med["list_" + what], med["info_" + what],
                   med["refresh_" + what], med["refresh_" + what] / med["list_" + what],
                   med["refresh_" + what] / med["info_" + what]))
        out("\nPer repeat (refresh / list): wall %s; CPU %s."
            % (", ".join("%.2fx" % x for x in wall_ratios),
               ", ".join("%.2fx" % x for x in cpu_ratios)))
    else:
        out("sockets %d (ss), owners %s, %d repeats x (1 list, 1 top of %d refreshes, -d %g)"
            % (total, rows[-1]["owners"], args.repeat, args.refreshes, args.delay))
        out("list:    wall %.3f s  CPU %.3f s  (medians)" % (med["list_wall"], med["list_cpu"]))
        out("list -i: wall %.3f s  CPU %.3f s  (medians)" % (med["info_wall"], med["info_cpu"]))
        out("refresh: wall %.3f s  CPU %.3f s  (medians)" % (med["refresh_wall"],
                                                          med["refresh_cpu"]))
        out("refresh / list: wall %.2fx  CPU %.2fx  (per repeat: wall %s; CPU %s)"
            % (med["refresh_wall"] / med["list_wall"], med["refresh_cpu"] / med["list_cpu"],
               " ".join("%.2f" % x for x in wall_ratios), " ".join("%.2f" % x for x in cpu_ratios)))
        out("refresh / list --info: wall %.2fx  CPU %.2fx"
            % (med["refresh_wall"] / med["info_wall"], med["refresh_cpu"] / med["info_cpu"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "states": dict(states), "args": vars(args) | {
                "sockets": args.sockets[0]}, "sockgen_log": sockgen_log,
                "sockgen_reported": gen_reported, "repeats": rows,
                "medians": med}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
