#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""contrib/prometheus and contrib/grafana against the real exposition.

- `promtool check rules` and `promtool test rules` on the alerting rules (the
  unit tests in contrib/prometheus/tcpstate.rules.test.yml: each alert fires
  on the series that should fire it, and only on those);
- every metric the rules and the dashboard use is one `tcpstate metrics`
  declares (# HELP), or one of the exporter's transition families, which
  `metrics` does not render (declared in src/metrics_transitions.c: a
  histogram's _bucket, _sum and _count are its family's), so a renamed metric
  breaks this test, not an alert;
- every query of the dashboard parses (as a recording rule, promtool).
Usage: test_prometheus_rules.py SOURCE_ROOT; $TCPSTATE is the binary."""

import json
import os
import re
import subprocess
import sys
import tempfile

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print(f"FAIL: {msg}", file=sys.stderr)
    return cond


def promtool(*args, cwd=None):
    r = subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=cwd)
    return r.returncode, r.stdout + r.stderr


def metric_names(expr):
    names = set(re.findall(r"\b(tcpstate_[a-z_]+)\b", expr))
    return names


def main():
    src = sys.argv[1]
    prom = os.path.join(src, "contrib", "prometheus")
    rules = os.path.join(prom, "tcpstate.rules.yml")
    dash_path = os.path.join(src, "contrib", "grafana", "tcpstate.json")

    rc, out = promtool("check", "rules", rules)
    check(rc == 0, f"promtool check rules: {out}")
    rc, out = promtool("test", "rules", "tcpstate.rules.test.yml", cwd=prom)
    check(rc == 0 and "SUCCESS" in out, f"promtool test rules: {out}")

    r = subprocess.run([os.environ["TCPSTATE"], "metrics"], capture_output=True, text=True, timeout=120)
    declared = set(re.findall(r"^# HELP (\S+)", r.stdout, re.M))
    check(r.returncode == 0 and declared, f"tcpstate metrics: exit {r.returncode}: {r.stderr[-300:]}")
    with open(os.path.join(src, "src", "metrics_transitions.c"), encoding="utf-8") as f:
        exporter_only = re.findall(r'metrics_family\(b, f, "(tcpstate_[a-z_]+)", "(\w+)"', f.read())
    check(len(exporter_only) >= 4, f"the exporter's transition families: {exporter_only}")
    for name, kind in exporter_only:
        declared.add(name)
        if kind == "histogram":
            declared |= {name + "_bucket", name + "_sum", name + "_count"}

    with open(rules, encoding="utf-8") as f:
        used = metric_names(f.read())
    with open(dash_path, encoding="utf-8") as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [v["query"] for v in dash["templating"]["list"] if v.get("type") == "query"]
    for e in exprs:
        used |= metric_names(e)
    check(used, "no tcpstate_ metric found in the rules and the dashboard")
    for name in sorted(used):
        check(name in declared, f"{name} is used by contrib/ but neither tcpstate metrics nor the exporter's transitions declare it")

    # Each panel's query parses: as a recording rule, with the dashboard's variables filled.
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        f.write("groups:\n  - name: dashboard\n    rules:\n")
        for i, p in enumerate(dash["panels"]):
            for t in p.get("targets", []):
                q = t["expr"].replace("$instance", ".*").replace("$netns", ".*")
                f.write(f"      - record: dashboard:panel{i}_{t['refId']}\n        expr: {json.dumps(q)}\n")
        tmp = f.name
    try:
        rc, out = promtool("check", "rules", tmp)
        check(rc == 0, f"a dashboard query does not parse: {out}")
    finally:
        os.unlink(tmp)

    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print(f"rules and dashboard: {len(used)} metrics, {len(exprs)} queries checked")


if __name__ == "__main__":
    main()
