# SPDX-License-Identifier: MIT
"""Smoke test of bench/churn.py (the churn benchmark of tcpstate trace against
tcpstates) at a tiny rate: it runs to the end, its calibration finds the fixed
number of events of a client-first close (10 state changes; tcpstate adds the
client socket's birth), and its counts parse and add up. No timing and no loss
threshold: the benchmark reports, the test only checks that it can."""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import (bpf_option, check, need_programs, run_named, skip,  # noqa: E402
                   skip_unless_root, tcpstate_path)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHURN_PY = os.path.join(REPO, "bench", "churn.py")


def churn_binary():
    path = os.path.join(os.path.dirname(tcpstate_path()), "bench", "churn")
    need_programs(path)
    return path


def test_tiny_rate_counts_parse():
    with tempfile.TemporaryDirectory(prefix="tschurn-test-") as tmp:
        raw = os.path.join(tmp, "raw.json")
        r = subprocess.run([sys.executable, CHURN_PY, "--tcpstate", tcpstate_path(),
                            "--churn", churn_binary(), "--rates", "100", "--duration", "1",
                            "--calibrate", "5", "--json", raw],
                           capture_output=True, text=True, timeout=240)
        if not check(r.returncode == 0, f"churn.py exit {r.returncode}: {r.stderr[-2000:]}"):
            return
        with open(raw) as f:
            data = json.load(f)
    cal = data["calibration"]
    check(cal["tcpstates"]["per_connection"] == 10,
          f"tcpstates: {cal['tcpstates']['per_connection']} events per connection, not 10")
    check(cal["tcpstate"]["per_connection"] == 11,
          f"tcpstate trace: {cal['tcpstate']['per_connection']} events per connection, not 11")
    check(len(data["rows"]) == 1, f"{len(data['rows'])} rows for one rate")
    row = data["rows"][0]
    check(row["connections"] == 100, f"{row['connections']} connections made, not 100")
    for name in ("tcpstate", "tcpstates"):
        t = row[name]
        check(t["expected"] == cal[name]["fixed"] + cal[name]["per_connection"] * 100,
              f"{name}: expected {t['expected']} does not follow the calibration {cal[name]}")
        check(0 < t["delivered"] <= t["expected"],
              f"{name}: {t['delivered']} delivered of {t['expected']}")
        # Loss is never silent: our claim (tcpstate trace), not tcpstates' (it
        # under-reports its own losses, see bench/README.md).
        check(name != "tcpstate" or t["delivered"] == t["expected"] or t["lost"] > 0,
              f"{name}: {t['missing']} events missing and no loss reported")
        check(t["cpu_s"] >= 0 and t["bpf_s"] >= 0, f"{name}: negative CPU time {t}")
    check("| 100 |" in r.stdout or " 100 " in r.stdout, f"no row for rate 100 in:\n{r.stdout}")


def main():
    skip_unless_root()
    if bpf_option() == "disabled":
        skip("built without BPF (-Dbpf=disabled): tcpstate trace needs it")
    need_programs("tcpstates", "/sys/kernel/tracing/events")
    run_named([("tiny_rate_counts_parse", test_tiny_rate_counts_parse)], "bench churn",
              only=sys.argv[1:])


if __name__ == "__main__":
    main()
