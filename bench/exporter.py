#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Scrape time of `tcpstate exporter` against node_exporter's tcpstat collector,
and the exporter's memory over many scrapes (issue 15).

For each size: a namespace filled by bench/sockgen (as bench/run.py does);
inside it node_exporter (`--collector.disable-defaults --collector.tcpstat`,
which reads /proc/net/tcp{,6} of its own namespace), `tcpstate exporter
--netns NS` (the same namespace, with owners) and `tcpstate exporter` (its
default: every namespace of the host). One scraper process inside the
namespace scrapes them round robin over kept-alive HTTP connections and times
each scrape (request sent to body read). Then the first tcpstate exporter is
scraped --rss-scrapes times more and its VmRSS read after the 10th and the
last; a twin of it, started with it and never scraped, is read at the same
moments: the growth that time and the namespace's own churn bring (the trace
behind the transition series follows sockets as they come and go; sockgen
renews its TIME_WAIT sockets every minute) is the twin's, and what the
scrapes add is the difference. Reports medians, ratios to node_exporter, and
the RSS growth.

Needs root. Standard library only. See bench/README.md.
"""

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as benchrun  # noqa: E402  (Namespace, Generator, find_tool, ...)
from benchlib import log, on_signal  # noqa: E402

NODE_EXPORTER = "prometheus-node-exporter"
# Below sockgen's ip_local_port_range (10000-65535) and its listeners (9000+i).
PORTS = {"node": 8101, "netns": 8102, "all": 8103, "idle": 8104}
NAMES = {
    "node": "node_exporter --collector.tcpstat",
    "netns": "tcpstate exporter --netns NS",
    "all": "tcpstate exporter (every namespace)",
    "idle": "tcpstate exporter --netns NS, never scraped",
}

# The scraper, run inside the namespace: reads "KEY PORT" lines, scrapes
# http://127.0.0.1:PORT/metrics on a kept-alive connection per port, answers
# one JSON line {"s": seconds, "bytes": n, "status": code} (with "body" when
# the line ends in " body"), or {"status": 0, "error": text} when it could not
# (tried twice: a kept-alive connection the server closed is opened again).
SCRAPER = r"""
import http.client, json, sys, time
conns = {}
for line in sys.stdin:
    words = line.split()
    port = int(words[1])
    for attempt in (0, 1):
        c = conns.get(port) or http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        conns[port] = c
        try:
            t0 = time.perf_counter()
            c.request("GET", "/metrics", headers={"Accept": "text/plain;version=0.0.4"})
            r = c.getresponse()
            body = r.read()
            s = time.perf_counter() - t0
            break
        except (OSError, http.client.HTTPException) as e:
            c.close()
            conns.pop(port, None)
            error = repr(e)
    else:
        print(json.dumps({"status": 0, "error": error}), flush=True)
        continue
    out = {"s": s, "bytes": len(body), "status": r.status}
    if words[-1] == "body":
        out["body"] = body.decode()
    print(json.dumps(out), flush=True)
"""


class Daemon:
    """A server started inside the namespace with `ip netns exec` (which execs:
    the Popen pid is the server's)."""

    def __init__(self, ns, argv, errpath):
        self.err = open(errpath, "w+")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.err)

    def memory_kib(self):
        """VmRSS and VmHWM (peak RSS) from /proc/PID/status, in KiB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            text = f.read()
        return {k: int(re.search(rf"^{k}:\s+(\d+) kB", text, re.M).group(1))
                for k in ("VmRSS", "VmHWM")}

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


class Scraper:
    def __init__(self, ns):
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SCRAPER],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def scrape(self, port, body=False):
        self.proc.stdin.write(f"x {port}{' body' if body else ''}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"scraper ended (exit {self.proc.wait()}) scraping port {port}")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(30)


def wait_serving(scraper, daemon, port, deadline):
    """Scrapes until one answers 200 (the exporter takes its first snapshot
    before listening), with a deadline."""
    end = time.monotonic() + deadline
    while True:
        if daemon.proc.poll() is not None:
            raise RuntimeError(f"port {port}: server exited {daemon.proc.returncode}:\n"
                               f"{daemon.stderr()[-2000:]}")
        if scraper.scrape(port)["status"] == 200:
            return
        if time.monotonic() > end:
            raise RuntimeError(f"port {port}: not serving after {deadline} s")
        time.sleep(0.2)


def tcp_states(body, key, ns):
    """Sockets per state seen by one exposition: node_exporter's
    node_tcp_connection_states, or tcpstate_sockets of namespace ns (None: all)."""
    counts = {}
    if key == "node":
        for m in re.finditer(r'^node_tcp_connection_states\{state="([a-z_0-9]+)"\} (\S+)$', body, re.M):
            if not m.group(1).endswith("_queued_bytes"):  # bytes, not a state
                counts[m.group(1).upper()] = int(float(m.group(2)))
        return counts
    for m in re.finditer(r'^tcpstate_sockets\{netns="([^"]*)",[^}]*state="([A-Z_0-9]+)"\} (\S+)$',
                         body, re.M):
        if ns is None or m.group(1) == ns:
            counts[m.group(2)] = counts.get(m.group(2), 0) + int(float(m.group(3)))
    return counts


def owner_source(body):
    m = re.search(r'^tcpstate_owner_source\{source="([a-z]+)"\} 1$', body, re.M)
    return m.group(1) if m else None


def bench_size(args, sockgen, size, tmp):
    ns = benchrun.Namespace("-exp")
    gen = daemons = scraper = None
    daemons = {}
    try:
        log(f"{size} sockets: building them in {ns.name}")
        gen = benchrun.Generator(sockgen, ns.name, size, args.seed, args.ready_timeout)
        log(f"  sockgen ready in {gen.build_seconds:.1f} s ({gen.reported} sockets)")
        node = args.node_exporter
        daemons["node"] = Daemon(ns.name, [node, "--collector.disable-defaults", "--collector.tcpstat",
                                           f"--web.listen-address=127.0.0.1:{PORTS['node']}"],
                                 os.path.join(tmp, "node.err"))
        for k in ("netns", "idle"):
            daemons[k] = Daemon(ns.name, [args.tcpstate, "exporter", "--listen",
                                          f"127.0.0.1:{PORTS[k]}", "--netns", ns.name],
                                os.path.join(tmp, f"{k}.err"))
        keys = ["node", "netns"]
        if not args.no_all_netns:
            daemons["all"] = Daemon(ns.name, [args.tcpstate, "exporter", "--listen",
                                              f"127.0.0.1:{PORTS['all']}"],
                                    os.path.join(tmp, "all.err"))
            keys.append("all")
        scraper = Scraper(ns.name)
        for k in keys + ["idle"]:
            wait_serving(scraper, daemons[k], PORTS[k], args.ready_timeout)
        # One scrape each with the body: what each one sees (not timed).
        seen = {}
        for k in keys:
            r = scraper.scrape(PORTS[k], body=True)
            body = r["body"]
            seen[k] = {"states": tcp_states(body, k, None if k != "netns" else ns.name),
                       "owner_source": owner_source(body) if k != "node" else None,
                       "bytes": r["bytes"]}
            if k == "all":
                seen[k]["bench_ns_states"] = tcp_states(body, k, ns.name)
                seen[k]["namespaces"] = len(set(re.findall(r'^tcpstate_sockets\{netns="([^"]*)"',
                                                           body, re.M)))
        times = {k: [] for k in keys}
        log(f"  timing: {args.repeat} rounds of {', '.join(NAMES[k] for k in keys)}")
        for _ in range(args.repeat):
            for k in keys:
                r = scraper.scrape(PORTS[k])
                if r["status"] != 200:
                    raise RuntimeError(f"{NAMES[k]}: HTTP {r['status']} {r.get('error', '')}")
                times[k].append(r["s"])
        # Memory of the tcpstate exporter (--netns) over many scrapes: VmRSS
        # after each of the first FIRST and of the last FIRST scrapes up to
        # LAST, and VmHWM (its peak) after scrape FIRST and LAST.
        first, last = args.rss_scrapes
        rss_first, rss_last, hwm = [], [], {}
        idle_first, idle_last = [], []
        log(f"  memory: {last} scrapes of {NAMES['netns']}")
        for n in range(1, last + 1):
            if scraper.scrape(PORTS["netns"])["status"] != 200:
                raise RuntimeError("exporter scrape failed during the memory run")
            if n <= first or n > last - first:
                kib = daemons["netns"].memory_kib()
                idle = daemons["idle"].memory_kib()["VmRSS"]
                if n <= first:
                    rss_first.append(kib["VmRSS"])
                    idle_first.append(idle)
                if n > last - first:   # both when the windows overlap
                    rss_last.append(kib["VmRSS"])
                    idle_last.append(idle)
                if n in (first, last):
                    hwm[n] = kib["VmHWM"]
        node_states = seen["node"]["states"]
        row = {
            "size": size, "sockgen_reported": gen.reported, "build_seconds": gen.build_seconds,
            "seen": seen,
            "median_s": {k: statistics.median(times[k]) for k in keys},
            "times": times,
            "ratio": {k: statistics.median(times[k]) / statistics.median(times["node"])
                      for k in keys},
            # Each round's time over node_exporter's in the same round: load
            # that comes and goes on a shared machine hits both of a pair.
            "paired_ratio": {k: statistics.median(a / b for a, b in zip(times[k], times["node"]))
                             for k in keys},
            "rss_kib": {"first": rss_first, "last": rss_last},
            "idle_rss_kib": {"first": idle_first, "last": idle_last},
            "hwm_kib": {str(n): v for n, v in hwm.items()},
            "rss_scrapes": [first, last],
            "node_sockets": sum(node_states.values()),
        }
        return row
    finally:
        if scraper:
            scraper.close()
        for d in daemons.values():
            d.close()
        if gen:
            gen.close()
        ns.close()


def report(rows, info, args):
    out = []
    out.append("Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()) + ".")
    out.append(f"Median of {args.repeat} scrapes each, round robin, kept-alive HTTP from a scraper "
               "inside the namespace; wall time from request to the last byte.")
    for row in rows:
        out.append("")
        out.append(f"#### {row['size']:,} sockets")
        out.append("")
        s = row["seen"]
        out.append(f"Sockets: sockgen {row['sockgen_reported']:,}; node_exporter "
                   f"{row['node_sockets']:,}; tcpstate --netns {sum(s['netns']['states'].values()):,}"
                   + (f"; the every-namespace exporter saw {s['all']['namespaces']} namespaces, "
                      f"{sum(s['all']['states'].values()):,} sockets in all"
                      if "all" in s else "") + ".")
        out.append("")
        out.append("| scrape | owners | median s | min s | vs node_exporter (medians) | "
                   "vs node_exporter (median per round) | exposition bytes |")
        out.append("|---|---|---:|---:|---:|---:|---:|")
        for k in row["median_s"]:
            owners = "no" if k == "node" else (s[k]["owner_source"] or "?")
            out.append(f"| {NAMES[k]} | {owners} | {row['median_s'][k]:.3f} | "
                       f"{min(row['times'][k]):.3f} | {row['ratio'][k]:.2f}x | "
                       f"{row['paired_ratio'][k]:.2f}x | {s[k]['bytes']:,} |")
        first, last = row["rss_scrapes"]
        a, b = row["rss_kib"]["first"], row["rss_kib"]["last"]
        h1, h2 = row["hwm_kib"][str(first)], row["hwm_kib"][str(last)]
        growth = statistics.median(b) - statistics.median(a)
        out.append("")
        out.append(f"Memory of `tcpstate exporter --netns NS` (MiB): VmRSS after scrape {first} "
                   f"{a[-1] / 1024:.1f}, after scrape {last} {b[-1] / 1024:.1f}; median VmRSS over "
                   f"scrapes 1-{first} {statistics.median(a) / 1024:.1f} (range "
                   f"{min(a) / 1024:.1f}-{max(a) / 1024:.1f}), over scrapes {last - first + 1}-{last} "
                   f"{statistics.median(b) / 1024:.1f} (range {min(b) / 1024:.1f}-{max(b) / 1024:.1f}); "
                   f"peak (VmHWM) {h1 / 1024:.1f} after scrape {first}, {h2 / 1024:.1f} after {last}.")
        ia, ib = row["idle_rss_kib"]["first"], row["idle_rss_kib"]["last"]
        idle_growth = statistics.median(ib) - statistics.median(ia)
        out.append(f"Its twin, never scraped, over the same time: median VmRSS "
                   f"{statistics.median(ia) / 1024:.1f} then {statistics.median(ib) / 1024:.1f} MiB "
                   f"({idle_growth:+,.0f} KiB).")
        ratio = row["ratio"]["netns"]
        paired = row["paired_ratio"]["netns"]
        out.append(f"- scrape with owners / node_exporter tcpstat = {ratio:.2f}x (median per round "
                   f"{paired:.2f}x) (goal <= 0.5x): "
                   f"{'met' if max(ratio, paired) <= 0.5 else 'NOT met'}")
        out.append(f"- RSS growth, median of the last {first} scrapes against the first {first} = "
                   f"{growth:+,.0f} KiB, of which the twin that was never scraped grew "
                   f"{idle_growth:+,.0f} KiB: the scrapes' own {growth - idle_growth:+,.0f} KiB "
                   f"(goal 0, within one 128 KiB malloc step): "
                   f"{'met' if growth - idle_growth <= 128 else 'NOT met'}; "
                   f"peak growth {h2 - h1:+,d} KiB")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tcpstate", required=True)
    ap.add_argument("--sockgen")
    ap.add_argument("--node-exporter", default=NODE_EXPORTER)
    ap.add_argument("--sizes", type=benchrun.parse_sizes, default=[100000])
    ap.add_argument("--repeat", type=int, default=9, help="timed scrapes of each (default 9)")
    ap.add_argument("--rss-scrapes", default="10,1000",
                    help="FIRST,LAST: VmRSS after these many scrapes (default 10,1000)")
    ap.add_argument("--no-all-netns", action="store_true",
                    help="leave out the every-namespace exporter")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ready-timeout", type=float, default=300)
    ap.add_argument("--json", help="write the raw numbers here")
    ap.add_argument("--markdown", action="store_true", help="(the report is markdown already)")
    args = ap.parse_args()
    try:
        first, last = (int(x) for x in args.rss_scrapes.split(","))
        if not 0 < first <= last:
            raise ValueError
    except ValueError:
        ap.error("--rss-scrapes wants FIRST,LAST with 0 < FIRST <= LAST")
    args.rss_scrapes = (first, last)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    if os.geteuid() != 0:
        ap.error("needs root (network namespaces)")
    args.tcpstate = os.path.abspath(args.tcpstate)
    sockgen = benchrun.find_tool(args.sockgen, "sockgen", args.tcpstate)
    if not sockgen:
        ap.error("no bench/sockgen next to --tcpstate: build it or give --sockgen")
    if not any(os.access(os.path.join(p, args.node_exporter), os.X_OK)
               for p in os.environ.get("PATH", "").split(":")) and \
            not os.access(args.node_exporter, os.X_OK):
        ap.error(f"{args.node_exporter} not found (apt-get install prometheus-node-exporter)")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    import tempfile
    rows = []
    with tempfile.TemporaryDirectory(prefix="tsbench-exp-") as tmp:
        for size in args.sizes:
            rows.append(bench_size(args, sockgen, size, tmp))
    info = benchrun.machine_info(args.tcpstate)
    for k in ("ss", "netstat", "lsof"):
        info.pop(k, None)
    r = subprocess.run([args.node_exporter, "--version"], capture_output=True, text=True)
    info["node_exporter"] = ((r.stdout + r.stderr).splitlines() or ["?"])[0]
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "rows": rows}, f, indent=1)
    print(report(rows, info, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
