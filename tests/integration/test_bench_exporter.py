# SPDX-License-Identifier: MIT
"""Smoke test of bench/exporter.py (the exporter's scrape time against
node_exporter's tcpstat collector, and its memory over many scrapes) at a
small size: it runs to the end, both servers count the same sockets in the
benchmark's namespace, the every-namespace exporter sees that namespace too,
and the report says both goals. No timing and no memory threshold: the
benchmark reports, the test only checks that it can."""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import (check, need_programs, run_named, skip_unless_root,  # noqa: E402
                   tcpstate_path)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPORTER_PY = os.path.join(REPO, "bench", "exporter.py")
# node_exporter's state names -> tcpstate's.
NODE_STATES = {"ESTABLISHED": "ESTABLISHED", "SYN_SENT": "SYN_SENT", "SYN_RECV": "SYN_RECEIVED",
               "FIN_WAIT1": "FIN_WAIT_1", "FIN_WAIT2": "FIN_WAIT_2", "TIME_WAIT": "TIME_WAIT",
               "CLOSE": "CLOSED", "CLOSE_WAIT": "CLOSE_WAIT", "LAST_ACK": "LAST_ACK",
               "LISTEN": "LISTEN", "CLOSING": "CLOSING"}


def test_small_run_counts_agree():
    sockgen = os.path.join(os.path.dirname(tcpstate_path()), "bench", "sockgen")
    need_programs(sockgen)
    with tempfile.TemporaryDirectory(prefix="tsbench-exp-test-") as tmp:
        raw = os.path.join(tmp, "raw.json")
        r = subprocess.run([sys.executable, EXPORTER_PY, "--tcpstate", tcpstate_path(),
                            "--sockgen", sockgen, "--sizes", "600", "--repeat", "2",
                            "--rss-scrapes", "2,5", "--json", raw],
                           capture_output=True, text=True, timeout=240)
        if not check(r.returncode == 0, f"exporter.py exit {r.returncode}: {r.stderr[-2000:]}"):
            return
        with open(raw) as f:
            data = json.load(f)
    check(len(data["rows"]) == 1, f"{len(data['rows'])} rows for one size")
    row = data["rows"][0]
    seen = row["seen"]
    node = {NODE_STATES.get(k, k): v for k, v in seen["node"]["states"].items()}
    ours = seen["netns"]["states"]
    # The states sockgen holds (TIME_WAIT is replaced as it expires, and the
    # scraper's own connection comes and goes: not compared).
    for state in ("CLOSE_WAIT", "FIN_WAIT_2", "LISTEN"):
        check(node.get(state, 0) == ours.get(state, 0) > 0,
              f"{state}: node_exporter {node.get(state)}, tcpstate --netns {ours.get(state)}")
        check(seen["all"]["bench_ns_states"].get(state) == ours.get(state),
              f"{state}: the every-namespace exporter counts "
              f"{seen['all']['bench_ns_states'].get(state)} in the benchmark's namespace, "
              f"--netns {ours.get(state)}")
    check(seen["netns"]["owner_source"] in ("bpf", "proc"),
          f"owner source {seen['netns']['owner_source']}")
    check(set(row["median_s"]) == {"node", "netns", "all"}, f"rows {sorted(row['median_s'])}")
    check(all(len(t) == 2 and min(t) > 0 for t in row["times"].values()),
          f"two positive times per scraper: {row['times']}")
    check(len(row["rss_kib"]["first"]) == 2 and len(row["rss_kib"]["last"]) == 2,
          f"VmRSS after scrapes 1-2 and 4-5: {row['rss_kib']}")
    check(len(row["idle_rss_kib"]["first"]) == 2 and len(row["idle_rss_kib"]["last"]) == 2 and
          all(v > 0 for v in row["idle_rss_kib"]["first"] + row["idle_rss_kib"]["last"]),
          f"the never-scraped twin's VmRSS at the same moments: {row['idle_rss_kib']}")
    check(set(row["hwm_kib"]) == {"2", "5"}, f"VmHWM after scrapes 2 and 5: {row['hwm_kib']}")
    check("(goal <= 0.5x)" in r.stdout and "(goal 0, within one 128 KiB malloc step)" in r.stdout,
          f"the report states both goals:\n{r.stdout}")


def main():
    skip_unless_root()
    need_programs("prometheus-node-exporter")
    run_named([("small_run_counts_agree", test_small_run_counts_agree)], "bench exporter",
              only=sys.argv[1:])


if __name__ == "__main__":
    main()
