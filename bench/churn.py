#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run `tcpstate trace` and `tcpstates` side by side on the same connection churn.

For each rate: create a network namespace, start both tracers, wait until both
are attached, run bench/churn (RATE connections/s for --duration seconds,
client closes first) in the namespace, wait until both outputs are quiet, read
the CPU time of each tracer process and the run time of its BPF programs, stop
both with SIGINT, and compare the events each delivered and lost with the
number the churn made. A calibration at the start (0 and --calibrate
connections, slowly) measures how many events one connection gives each tracer.

Needs root, BPF, tracefs (for tcpstates). Standard library only. See bench/README.md.
"""

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from benchlib import Stop, on_signal, log

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SERVER_ADDR = b"127.77.0.1"  # bench/churn.c's server; clients are 127.78.x.y
CLK_TCK = os.sysconf("SC_CLK_TCK")
BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled"


def parse_rates(text):
    rates = []
    for part in text.split(","):
        part = part.strip().lower()
        mult = 1
        if part.endswith("k"):
            part, mult = part[:-1], 1000
        try:
            value = float(part) * mult
        except ValueError:
            raise argparse.ArgumentTypeError("bad rate %r" % part) from None
        if value <= 0:
            raise argparse.ArgumentTypeError("rates must be positive")
        rates.append(int(value))
    return rates


def find_churn(explicit, tcpstate):
    if explicit:
        return os.path.abspath(explicit)
    for c in (os.path.join(os.path.dirname(os.path.abspath(tcpstate)), "bench", "churn"),
              os.path.join(REPO, "build", "bench", "churn")):
        if os.access(c, os.X_OK):
            return c
    sys.exit("churn.py: bench/churn not found; build it (meson compile -C build) or pass --churn")


def proc_cpu_s(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def bpf_run_time_s(pid):
    """Sum of run_time_ns over the BPF programs the process holds (bpf_stats_enabled)."""
    total = 0
    fddir = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fddir):
        try:
            with open(os.path.join(fddir, fd)) as f:
                text = f.read()
        except OSError:
            continue
        if "prog_tag:" not in text:
            continue
        m = re.search(r"^run_time_ns:\s*(\d+)", text, re.M)
        if m:
            total += int(m.group(1))
    return total / 1e9


def has_fd(pid, target):
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == target:
                    return True
            except OSError:
                pass
    except OSError:
        pass
    return False


def perf_buffer_ready(pid):
    """The epoll instance and one perf event per CPU beyond the tracepoint's are open."""
    if not has_fd(pid, "anon_inode:[eventpoll]"):
        return False
    n = 0
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "anon_inode:[perf_event]":
                    n += 1
            except OSError:
                pass
    except OSError:
        return False
    return n >= os.cpu_count() + 1


class Tracer:
    """One tracer process, stdout and stderr to files."""

    def __init__(self, name, argv, workdir):
        self.name = name
        self.out_path = os.path.join(workdir, name.replace(" ", "_") + ".out")
        self.err_path = os.path.join(workdir, name.replace(" ", "_") + ".err")
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL)
        self.rusage = None
        self.status = None
        self.cpu_start = None

    def alive(self):
        return self.proc.poll() is None

    def stderr_text(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def size(self):
        return os.path.getsize(self.out_path)

    def stop(self, deadline_s=120):
        """SIGINT (both tracers drain and print their end on it), reap with rusage."""
        if self.status is not None:
            return
        if self.proc.returncode is not None:  # already reaped by poll(): no rusage
            self.status = self.proc.returncode
            self.out.close()
            self.err.close()
            return
        if self.proc.returncode is None:
            try:
                self.proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
        end = time.monotonic() + deadline_s
        while True:
            pid, status, rusage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > end:
                log("%s: no exit %d s after SIGINT, killing it" % (self.name, deadline_s))
                self.proc.kill()
                pid, status, rusage = os.wait4(self.proc.pid, 0)
                break
            time.sleep(0.05)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.status = self.proc.returncode
        self.rusage = rusage
        self.out.close()
        self.err.close()

    def cpu_total_s(self):
        if self.rusage is None:
            raise RuntimeError("%s exited early (%s): %s" % (self.name, self.status,
                                                             self.stderr_text()[-1000:]))
        return self.rusage.ru_utime + self.rusage.ru_stime


def wait_until(what, predicate, deadline_s, tracers=()):
    end = time.monotonic() + deadline_s
    while not predicate():
        for t in tracers:
            if not t.alive():
                raise RuntimeError("%s exited (%s) before %s:\n%s" % (
                    t.name, t.proc.returncode, what, t.stderr_text()[-2000:]))
        if time.monotonic() > end:
            raise RuntimeError("timed out after %d s waiting for %s" % (deadline_s, what))
        time.sleep(0.05)


def count_event_lines(path, text):
    with open(path, "rb") as f:
        if text:
            return sum(1 for line in f if b" -> " in line)
        return sum(1 for line in f if line.startswith(b'{"type":"event"'))


def wait_quiet(tracers, quiet_s, deadline_s):
    """Until no tracer output grew for quiet_s (both drained their buffers)."""
    end = time.monotonic() + deadline_s
    sizes = [t.size() for t in tracers]
    since = time.monotonic()
    while time.monotonic() - since < quiet_s:
        if time.monotonic() > end:
            log("outputs still growing after %d s; stopping the tracers anyway" % deadline_s)
            return
        time.sleep(0.1)
        now = [t.size() for t in tracers]
        if now != sizes:
            sizes, since = now, time.monotonic()


def count_tcpstate(path, text):
    """(events, lost, event lines, lost lines, TIME_WAIT ends, loss detail) from tcpstate
    trace's output.

    TIME_WAIT ends within a churn run (shorter than TIME_WAIT's 60 s) are real early ends:
    an RST that reaches a timewait socket ends it (tcp_rfc1337 0; TcpOutRsts in the
    namespace counts them), seen at the latest when a new connection takes the 4-tuple it
    freed. They are events beyond the
    expected ones, counted apart (see bench/README.md)."""
    summary = None
    lines = lost_lines = polled = 0
    with open(path, "rb") as f:
        for line in f:
            if text:
                if b" -> " in line:
                    lines += 1
                    if line.endswith((b"(end noticed by polling)\n",
                                      b"(ended by then: a new connection has its 4-tuple)\n")):
                        polled += 1
                elif line.startswith(b"-- ") and b" lost" in line:
                    lost_lines += 1
                else:
                    m = re.match(rb"Summary: (\d+) events? in .*, (\d+) lost", line)
                    if m:
                        summary = {"events": int(m.group(1)), "lost": int(m.group(2))}
                continue
            if line.startswith(b'{"type":"event"'):
                lines += 1
                if b'"noticed_by_polling":true' in line or b'"tuple_reused":true' in line:
                    polled += 1
            elif line.startswith(b'{"type":"lost"'):
                lost_lines += 1
            elif line.startswith(b'{"type":"summary"'):
                summary = json.loads(line)
    if summary is None:
        raise RuntimeError("tcpstate trace printed no summary (%s)" % path)
    return (summary["events"], summary["lost"], lines, lost_lines, polled,
            summary.get("loss"))


def count_tcpstates(out_path, err_path, port):
    """(ours, others, lost) from tcpstates: lines of the churn's server address and port."""
    port_b = str(port).encode()
    ours = others = 0
    with open(out_path, "rb") as f:
        f.readline()  # header
        for line in f:
            fields = line.split()
            # SKADDR PID COMM LADDR LPORT RADDR RPORT OLD -> NEW MS; COMM may hold blanks,
            # so index from the end.
            if len(fields) < 10:
                continue
            laddr, lport, raddr, rport = fields[-8], fields[-7], fields[-6], fields[-5]
            if (laddr == SERVER_ADDR and lport == port_b) or \
               (raddr == SERVER_ADDR and rport == port_b):
                ours += 1
            else:
                others += 1
    lost = 0
    with open(err_path, "rb") as f:
        for line in f:
            m = re.match(rb"lost (\d+) events on CPU", line)
            if m:
                lost += int(m.group(1))
    return ours, others, lost


def netns_add():
    name = "tschurn-" + secrets.token_hex(4)
    subprocess.run(["ip", "netns", "add", name], check=True)
    return name


def netns_del(name):
    subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)


def run_once(args, churn_argv, workdir, which=("tcpstate", "tcpstates")):
    """One churn under the tracers named in which (side by side); returns the raw numbers."""
    ns = netns_add()
    tracers = []
    tr = ts = None
    try:
        if "tcpstate" in which:
            fmt = [] if args.tcpstate_text else ["--json"]
            tr = Tracer("tcpstate trace", [args.tcpstate, "trace"] + fmt + ["-v", "--netns", ns],
                        workdir)
            tracers.append(tr)
        if "tcpstates" in which:
            ts = Tracer("tcpstates", [args.tcpstates], workdir)
            tracers.append(ts)
        # tcpstate says "tracing ..." once attached and the start snapshot taken (every
        # change after that line is shown or counted lost); tcpstates opens its perf
        # buffer's epoll instance after attaching.
        if tr:
            wait_until("tcpstate trace to be ready",
                       lambda: "tcpstate: tracing " in tr.stderr_text(), 60, tracers)
        # libbpf opens the perf buffer's per-CPU events after the epoll instance: until the
        # last one is in the map, that CPU's events are dropped without a loss record.
        if ts:
            wait_until("tcpstates to attach", lambda: perf_buffer_ready(ts.proc.pid), 60,
                       tracers)
        time.sleep(args.settle)
        for t in tracers:
            t.cpu_start = proc_cpu_s(t.proc.pid)
        bpf_start = [bpf_run_time_s(t.proc.pid) for t in tracers]
        argv = [args.churn, "--netns", ns, "--threads", str(args.threads),
                "--port", str(args.port)] + churn_argv
        started = time.monotonic()
        res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=args.duration + 120)
        wall = time.monotonic() - started
        m = re.search(r"churn connections=(\d+) failed=(\d+) server_closed=(\d+) seconds=([\d.]+)",
                      res.stdout)
        if not m:
            raise RuntimeError("churn failed (%d): %s%s" % (res.returncode, res.stdout, res.stderr))
        if res.returncode != 0:
            log("churn: " + res.stderr.strip())
        conns, failed, closed, secs = int(m.group(1)), int(m.group(2)), int(m.group(3)), \
            float(m.group(4))
        wait_quiet(tracers, args.quiet, 120)
        bpf = {t.name: bpf_run_time_s(t.proc.pid) - b for t, b in zip(tracers, bpf_start)}
        for t in tracers:
            t.stop()
        for t in tracers:
            if t.status not in (0, 130, -signal.SIGINT):
                log("%s exited %s: %s" % (t.name, t.status, t.stderr_text()[-1000:]))
        out = {"connections": conns, "failed": failed, "server_closed": closed,
               "churn_seconds": secs, "churn_wall_s": wall, "tcpstate": None, "tcpstates": None}
        if tr:
            events, lost, lines, lost_lines, polled, loss = count_tcpstate(tr.out_path,
                                                                           args.tcpstate_text)
            if events != lines:
                log("tcpstate: the summary counts %d events, the output has %d" % (events, lines))
            out["tcpstate"] = {
                "events": events - polled, "early_tw_ends": polled, "loss": loss,
                "lost": lost, "event_lines": lines, "lost_lines": lost_lines,
                "cpu_s": tr.cpu_total_s() - tr.cpu_start, "bpf_s": bpf[tr.name],
                "exit": tr.status}
        if ts:
            ours, others, lost = count_tcpstates(ts.out_path, ts.err_path, args.port)
            out["tcpstates"] = {
                "events": ours, "other_events": others, "lost": lost,
                "cpu_s": ts.cpu_total_s() - ts.cpu_start, "bpf_s": bpf[ts.name],
                "exit": ts.status}
        return out
    finally:
        for t in tracers:
            try:
                t.stop(deadline_s=30)
            except Exception as e:  # noqa: BLE001 - keep cleaning up
                log("stopping %s: %s" % (t.name, e))
        netns_del(ns)
        for t in tracers:
            for p in (t.out_path, t.err_path):
                if args.keep:
                    os.makedirs(args.keep, exist_ok=True)
                    shutil.copy(p, os.path.join(args.keep, "%s-%s" % (ns, os.path.basename(p))))
                try:
                    os.unlink(p)
                except OSError:
                    pass


def calibrate(args, workdir):
    """Events per connection and fixed events (the listener) for each tracer."""
    n = args.calibrate
    zero = run_once(args, ["--rate", "100", "--connections", "0"], workdir)
    some = run_once(args, ["--rate", "200", "--connections", str(n)], workdir)
    if some["connections"] != n or some["failed"]:
        raise RuntimeError("calibration churn made %d of %d connections" %
                           (some["connections"], n))
    cal = {}
    for name in ("tcpstate", "tcpstates"):
        fixed = zero[name]["events"]
        per, rem = divmod(some[name]["events"] - fixed, n)
        # Both count losses of the whole host (tcpstates traces it all; tcpstate's skipped
        # hook runs are of any socket): on a busy host they may be other namespaces'. What
        # counts is that ours came out a whole number per connection.
        if rem:
            raise RuntimeError("%s: %d events for %d connections (fixed %d, lost %d): not a "
                               "whole number per connection" % (
                                   name, some[name]["events"], n, fixed, some[name]["lost"]))
        if some[name]["lost"] or zero[name]["lost"]:
            log("calibration: %s lost %d events (of the whole host) but counted %d per "
                "connection" % (name, some[name]["lost"] + zero[name]["lost"], per))
        cal[name] = {"fixed": fixed, "per_connection": per}
    return cal


def machine_info(args):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        ver = subprocess.run([args.tcpstate, "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True).stdout.strip()
        ver = "; ".join(line.strip() for line in ver.splitlines() if line.strip())
    except OSError:
        ver = "?"
    try:
        pkg = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libbpf-tools"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True).stdout.strip() or "?"
    except OSError:
        pkg = "?"
    return "cpu %s, %d CPUs; kernel %s; %s; tcpstates (libbpf-tools %s); date %s" % (
        cpu, os.cpu_count(), platform.release(), ver, pkg, time.strftime("%Y-%m-%d", time.gmtime()))


def row_for(rate, cal, r):
    conns = r["connections"]
    # The kernel's state changes per connection, the same for both (tcpstates' count);
    # tcpstate also reports the client socket's birth from socket().
    transitions = cal["tcpstates"]["per_connection"] * conns
    row = {"rate": rate, "achieved": conns / r["churn_seconds"] if r["churn_seconds"] else 0,
           "connections": conns, "transitions": transitions, "raw": r}
    for name in ("tcpstate", "tcpstates"):
        if r[name] is None:
            row[name] = None
            continue
        exp = cal[name]["fixed"] + cal[name]["per_connection"] * conns
        got = r[name]["events"]
        cpu = r[name]["cpu_s"] + r[name]["bpf_s"]
        row[name] = {"expected": exp, "delivered": got, "missing": exp - got,
                     "lost": r[name]["lost"], "cpu_s": r[name]["cpu_s"], "bpf_s": r[name]["bpf_s"],
                     "us_per_transition": cpu * 1e6 / transitions if transitions else 0.0}
    return row


def fmt_int(n):
    return "{:,}".format(n)


def fmt_counts(t):
    return "%s / %s (%.1f%% missing) / %s" % (
        fmt_int(t["expected"]), fmt_int(t["delivered"]), 100.0 * t["missing"] / t["expected"],
        fmt_int(t["lost"]))


def fmt_cpu(t, transitions):
    if not transitions:
        return "-"
    return "%.2f (%.2f+%.2f)" % (t["us_per_transition"], t["cpu_s"] * 1e6 / transitions,
                                 t["bpf_s"] * 1e6 / transitions)


def print_rows(head, body, markdown):
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---:" for _ in head) + "|")
        for b in body:
            print("| " + " | ".join(b) + " |")
    else:
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
        print("  ".join(h.rjust(w) for h, w in zip(head, widths)))
        for b in body:
            print("  ".join(c.rjust(w) for c, w in zip(b, widths)))


def print_alone(rows, markdown):
    head = ["target conn/s", "tracer", "achieved conn/s", "connections",
            "expected / delivered / lost", "µs/change (proc+BPF)"]
    body = []
    for r in rows:
        name = "tcpstate" if r["tcpstate"] else "tcpstates"
        t = r[name]
        body.append([fmt_int(r["rate"]), name + (" trace" if name == "tcpstate" else ""),
                     fmt_int(round(r["achieved"])), fmt_int(r["connections"]), fmt_counts(t),
                     fmt_cpu(t, r["transitions"])])
    print_rows(head, body, markdown)


def print_table(rows, markdown):
    head = ["target conn/s", "achieved conn/s", "connections", "state changes",
            "tcpstate trace: expected / delivered / lost", "tcpstates: expected / delivered / lost",
            "tcpstate trace µs/change (proc+BPF)", "tcpstates µs/change (proc+BPF)",
            "CPU tcpstate / tcpstates"]
    body = []
    for r in rows:
        a, b = r["tcpstate"], r["tcpstates"]
        ratio = a["us_per_transition"] / b["us_per_transition"] if b["us_per_transition"] else 0
        body.append([
            fmt_int(r["rate"]), fmt_int(round(r["achieved"])), fmt_int(r["connections"]),
            fmt_int(r["transitions"]), fmt_counts(a), fmt_counts(b),
            fmt_cpu(a, r["transitions"]), fmt_cpu(b, r["transitions"]), "%.2fx" % ratio])
    print_rows(head, body, markdown)


def verdicts(rows):
    """The issue's goal per rate, as sentences (reported, never asserted)."""
    out = []
    for r in rows:
        a, b = r["tcpstate"], r["tcpstates"]
        # Missing is the truth; tcpstate's lost is an upper bound (see bench/README.md).
        a_ok = a["missing"] == 0
        b_loses = b["missing"] > 0 or b["lost"] > 0
        if b_loses:
            loss = "tcpstates lost %s of %s events (%.2f%%)" % (
                fmt_int(b["missing"]), fmt_int(b["expected"]), 100.0 * b["missing"] / b["expected"])
            loss += "; tcpstate %s" % (
                "missed none (counted %s lost, at most): met" % fmt_int(a["lost"]) if a_ok else
                "missed %s (counted %s lost, at most): NOT met" % (fmt_int(a["missing"]),
                                                                   fmt_int(a["lost"])))
        else:
            loss = "tcpstates lost nothing; tcpstate %s" % (
                "missed nothing" if a_ok else "missed %s (counted %s lost, at most)" % (
                    fmt_int(a["missing"]), fmt_int(a["lost"])))
        n = r["transitions"] or 1
        pa, pb = a["cpu_s"] * 1e6 / n, b["cpu_s"] * 1e6 / n
        out.append("- %s conn/s: %s; CPU per change with BPF %.2f µs vs %.2f µs: %s; "
                   "process alone %.2f µs vs %.2f µs: %s" % (
                       fmt_int(r["rate"]), loss, a["us_per_transition"], b["us_per_transition"],
                       "met" if a["us_per_transition"] <= b["us_per_transition"] else "NOT met",
                       pa, pb, "met" if pa <= pb else "NOT met"))
        if r["raw"]["tcpstate"]["early_tw_ends"]:
            out.append("  (tcpstate also reported %s TIME_WAIT ends within the run, real ones "
                       "(an RST in TIME_WAIT ends it): not counted above)" % fmt_int(
                           r["raw"]["tcpstate"]["early_tw_ends"]))
        if r["achieved"] < 0.95 * r["rate"]:
            out.append("  (the generator reached only %s conn/s of %s under both tracers)" % (
                fmt_int(round(r["achieved"])), fmt_int(r["rate"])))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tcpstate", required=True, help="the tcpstate binary")
    ap.add_argument("--tcpstates", default=shutil.which("tcpstates") or "/usr/sbin/tcpstates",
                    help="libbpf-tools tcpstates (default: from PATH)")
    ap.add_argument("--churn", help="bench/churn (default: BUILD/bench/churn)")
    ap.add_argument("--rates", type=parse_rates, default=parse_rates("1k,5k,12k,25k"),
                    help="connections per second, comma-separated (default 1k,5k,12k,25k)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per rate (default 10)")
    ap.add_argument("--threads", type=int, default=2, help="client threads (default 2)")
    ap.add_argument("--port", type=int, default=47000, help="the churn's server port")
    ap.add_argument("--calibrate", type=int, default=100,
                    help="connections of the calibration run (default 100)")
    ap.add_argument("--quiet", type=float, default=1.5,
                    help="seconds without output growth before the tracers are stopped")
    ap.add_argument("--tcpstate-text", action="store_true",
                    help="run tcpstate trace with its text output (default: --json)")
    ap.add_argument("--alone", action="store_true",
                    help="also run each tracer alone on the same churn, for reference")
    ap.add_argument("--settle", type=float, default=0.5,
                    help="seconds to wait after both tracers are attached (default 0.5)")
    ap.add_argument("--keep", metavar="DIR", help="keep the tracers' outputs there")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--json", metavar="PATH", help="write the raw numbers there")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("churn.py: needs root (namespaces, BPF)")
    args.tcpstate = os.path.abspath(args.tcpstate)
    args.churn = find_churn(args.churn, args.tcpstate)
    if not os.access(args.tcpstates, os.X_OK):
        sys.exit("churn.py: tcpstates not found (apt-get install libbpf-tools) or pass --tcpstates")
    if not os.path.isdir("/sys/kernel/tracing/events"):
        sys.exit("churn.py: tracefs is not mounted: mount -t tracefs nodev /sys/kernel/tracing")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    with open(BPF_STATS) as f:
        stats_before = f.read().strip()
    rows = []
    alone = []
    workdir = tempfile.mkdtemp(prefix="tschurn-")
    try:
        with open(BPF_STATS, "w") as f:
            f.write("1")
        cal = calibrate(args, workdir)
        log("calibration: tcpstate %d events per connection (+%d), tcpstates %d (+%d)" % (
            cal["tcpstate"]["per_connection"], cal["tcpstate"]["fixed"],
            cal["tcpstates"]["per_connection"], cal["tcpstates"]["fixed"]))
        for rate in args.rates:
            log("rate %s conn/s for %g s ..." % (fmt_int(rate), args.duration))
            r = run_once(args, ["--rate", str(rate), "--duration", str(args.duration)], workdir)
            row = row_for(rate, cal, r)
            rows.append(row)
            log("  %s connections (%s/s); tcpstate %s/%s lost %s (+%s early TIME_WAIT ends); "
                "tcpstates %s/%s lost %s (+%s other host events)" % (
                    fmt_int(r["connections"]), fmt_int(round(row["achieved"])),
                    fmt_int(row["tcpstate"]["delivered"]), fmt_int(row["tcpstate"]["expected"]),
                    fmt_int(row["tcpstate"]["lost"]), fmt_int(r["tcpstate"]["early_tw_ends"]),
                    fmt_int(row["tcpstates"]["delivered"]),
                    fmt_int(row["tcpstates"]["expected"]), fmt_int(row["tcpstates"]["lost"]),
                    fmt_int(r["tcpstates"]["other_events"])))
            if args.alone:
                for name in ("tcpstate", "tcpstates"):
                    log("  %s alone ..." % name)
                    r = run_once(args, ["--rate", str(rate), "--duration", str(args.duration)],
                                 workdir, which=(name,))
                    alone.append(row_for(rate, cal, r))
    except Stop as e:
        log("stopped by %s" % e)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with open(BPF_STATS, "w") as f:
            f.write(stats_before)
        shutil.rmtree(workdir, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    print("Machine: " + machine_info(args) + ".")
    print("tcpstate trace output: %s; tcpstates: its text output." % (
        "text" if args.tcpstate_text else "--json"))
    print("Churn: bench/churn, %d client threads, %g s per rate, client closes first; "
          "%d state changes per connection (tcpstate also reports the client socket's "
          "birth: %d events per connection); CPU = tracer process user+system time from "
          "attach to exit + run time of its BPF programs (kernel.bpf_stats_enabled), per "
          "state change." % (args.threads, args.duration, cal["tcpstates"]["per_connection"],
                             cal["tcpstate"]["per_connection"]))
    print()
    print_table(rows, args.markdown)
    print()
    for line in verdicts(rows):
        print(line)
    if alone:
        print()
        print("Each tracer alone on the same churn (a separate run per tracer and rate):")
        print()
        print_alone(alone, args.markdown)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"calibration": cal, "rows": rows, "alone": alone, "machine": machine_info(args)}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
