# SPDX-License-Identifier: MIT
"""`tcpstate exporter`, `metrics` and `check` against the real consumers: a
Prometheus server (Debian's `prometheus`) scraping the exporter inside a lab
namespace with a CLOSE_WAIT leak, queried through its HTTP API; `promtool
check metrics` on the exposition; node_exporter's textfile collector reading
`metrics --output`; `check`'s exit codes; malformed, oversized and excess
requests answered 4xx or refused while the daemon keeps serving.

Every daemon runs inside the lab's namespace on 127.0.0.1, in its own
process group, and is killed on every exit path (Daemon.__exit__)."""

import base64
import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import (Lab, bpf_option, check, need_programs, run_named, run_tcpstate,  # noqa: E402
                   skip_unless_root, ss, tcpstate_path, wait_until)

EXPORTER_PORT = 9977
PROMETHEUS_PORT = 9090
NODE_EXPORTER_PORT = 9100

# Runs inside a namespace (python 3.11 has no os.setns): sends raw bytes to
# 127.0.0.1:PORT and prints what came back, or "" when the server closed
# without an answer.
_HTTP_SNIPPET = r"""
import base64, json, socket, sys
port, raw = int(sys.argv[1]), base64.b64decode(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=20)
try:
    s.sendall(raw)
except OSError:
    pass
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except OSError:
    pass
print(json.dumps(base64.b64encode(out).decode()))
"""


def http_raw(netns, port, raw):
    """Inside netns, or in ours for None."""
    cmd = [sys.executable, "-c", _HTTP_SNIPPET, str(port), base64.b64encode(raw).decode()]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"http helper failed: {r.stderr}")
    return base64.b64decode(json.loads(r.stdout))


def http(netns, port, path, method="GET", headers=(), body=b""):
    """(status, {header: value}, body) of one request ("Connection: close")."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers)
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    out = http_raw(netns, port, head.encode() + b"\r\n" + body)
    return parse_response(out)


def parse_response(out):
    if not out:
        return None, {}, b""
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


class Daemon:
    """A program run inside netns in its own process group; killed (the whole
    group) on exit, whatever happened."""

    def __init__(self, netns, argv, name):
        self.name = name
        self.log = tempfile.TemporaryFile()
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=self.log, stderr=subprocess.STDOUT,
                                  start_new_session=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def alive(self):
        return self.p.poll() is None

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.p.pid, signal.SIGKILL)  # anything the group left
        except ProcessLookupError:
            pass
        if self.p.poll() is None:
            self.p.wait(5)
        return self.p.returncode


def exporter(netns, *args):
    return Daemon(netns, [tcpstate_path(), "exporter", "--listen", f"127.0.0.1:{EXPORTER_PORT}",
                          *args], "exporter")


def wait_serving(netns, d, port, path="/metrics", timeout=60):
    def up():
        if not d.alive():
            raise AssertionError(f"{d.name} exited: {d.output()}")
        try:
            st, _, _ = http(netns, port, path)
        except (AssertionError, subprocess.TimeoutExpired):
            return None
        return st == 200
    if not wait_until(up, timeout, 0.2):
        raise AssertionError(f"{d.name} not serving {path} in {timeout} s: {d.output()}")


def prom_query(netns, q):
    st, _, body = http(netns, PROMETHEUS_PORT, f"/api/v1/query?query={quote(q)}")
    if st != 200:
        return None
    doc = json.loads(body)
    return doc["data"]["result"] if doc.get("status") == "success" else None


def scrape_errors(netns):
    """Prometheus's own account of its last scrape of each target (for failure messages)."""
    st, _, body = http(netns, PROMETHEUS_PORT, "/api/v1/targets")
    if st != 200:
        return f"targets: HTTP {st}"
    return [(t.get("health"), t.get("lastError"), t.get("lastScrapeDuration"))
            for t in json.loads(body)["data"]["activeTargets"]]


def close_wait_of(netns, port):
    return len(ss(netns, "state", "close-wait", "sport", f"= :{port}"))


def test_prometheus_scrapes_the_leak():
    # The leak grows; the lab's holder keeps 3 CLOSE_WAIT sockets: an exact count.
    with Lab(states=["LISTEN", "CLOSE_WAIT"], count=3, leak=20) as lab, \
            tempfile.TemporaryDirectory() as tmp:
        check(wait_until(lambda: lab.leak, 15) is not None, "the lab's leak started")
        server, port = lab.leak["server_pid"], lab.leak["port"]
        holder = lab.targets("CLOSE_WAIT")[0]["pid"]
        with exporter(lab.netns, "--top-processes", "1000") as ex:
            wait_serving(lab.netns, ex, EXPORTER_PORT)
            st, hdrs, text = http(lab.netns, EXPORTER_PORT, "/metrics")
            check(hdrs.get("content-type", "").startswith("text/plain; version=0.0.4"),
                  f"text format by default: {hdrs}")
            r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                               timeout=30)
            check(r.returncode == 0, f"promtool check metrics: {r.stdout!r} {r.stderr!r}")
            if bpf_option() != "disabled":
                check(b'tcpstate_socket_source{source="bpf"} 1' in text,
                      "the exporter reads sockets with its kept iter/tcp program: " +
                      str([ln for ln in text.splitlines() if b"socket_source" in ln]))
            st, hdrs, om = http(lab.netns, EXPORTER_PORT, "/metrics", headers=[
                ("Accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")])
            check(hdrs.get("content-type", "").startswith("application/openmetrics-text"),
                  f"OpenMetrics when asked: {hdrs}")
            check(om.endswith(b"# EOF\n"), "OpenMetrics ends with # EOF")
            check(b"# TYPE tcpstate_scrape_errors counter" in om and
                  b"\ntcpstate_scrape_errors_total " in om, "OpenMetrics counter family naming")

            config = os.path.join(tmp, "prometheus.yml")
            with open(config, "w") as f:
                f.write("global:\n  scrape_interval: 3s\n  scrape_timeout: 3s\n"
                        "scrape_configs:\n  - job_name: tcpstate\n    static_configs:\n"
                        f"      - targets: ['127.0.0.1:{EXPORTER_PORT}']\n")
            before = close_wait_of(lab.netns, port)
            with Daemon(lab.netns, ["prometheus", f"--config.file={config}",
                                    f"--storage.tsdb.path={tmp}/data",
                                    f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"],
                        "prometheus") as prom:
                wait_serving(lab.netns, prom, PROMETHEUS_PORT, "/-/ready", 90)
                q = f'tcpstate_process_sockets{{state="CLOSE_WAIT",pid="{server}"}}'
                res = wait_until(lambda: prom_query(lab.netns, q), 60, 0.5)
                after = close_wait_of(lab.netns, port)
                if check(res and len(res) == 1, f"one series for {q}: {res}"):
                    labels, value = res[0]["metric"], int(float(res[0]["value"][1]))
                    check(labels.get("netns") == lab.netns, f"netns label {labels}")
                    check(labels.get("comm") == "tslab-leaky", f"comm label {labels}")
                    check(labels.get("job") == "tcpstate", f"scraped by the job {labels}")
                    # The scrape happened between the two counts (the leak only grows).
                    check(before <= value <= after,
                          f"CLOSE_WAIT of the leaky pid: {before} <= {value} <= {after}")
                res = prom_query(lab.netns, f'tcpstate_process_sockets{{state="CLOSE_WAIT",pid="{holder}"}}')
                check(res and len(res) == 1 and res[0]["value"][1] == "3"
                      and res[0]["metric"].get("comm") == "tslab-holder",
                      f"the holder's 3 CLOSE_WAIT: {res}")
                res = prom_query(lab.netns, f'tcpstate_port_sockets{{netns="{lab.netns}",port="{port}",'
                                            'state="CLOSE_WAIT"}')
                after = close_wait_of(lab.netns, port)
                check(res and len(res) == 1 and before <= int(res[0]["value"][1]) <= after,
                      f"the leak's port: {before} <= CLOSE_WAIT {res} <= {after}")
                up = prom_query(lab.netns, 'up{job="tcpstate"}')
                check(up and up[0]["value"][1] == "1",
                      f"up == 1: {up}; last scrape: {scrape_errors(lab.netns)}")
                lst = prom_query(lab.netns, f'tcpstate_sockets{{netns="{lab.netns}",state="LISTEN"}}')
                check(lst and int(lst[0]["value"][1]) >= 1, f"LISTEN of the lab: {lst}")
                grow = wait_until(lambda: [r for r in (prom_query(
                    lab.netns, f'tcpstate_process_close_wait_growth_per_second{{pid="{server}"}} > 0')
                    or [])], 30, 0.5)
                check(grow, "growth per second of the leaky pid seen by Prometheus")
                cw = wait_until(lambda: prom_query(
                    lab.netns, f'tcpstate_findings{{kind="close-wait"}} > 0'), 30, 0.5)
                check(cw, "doctor's close-wait finding counted")
                check(prom.alive(), f"prometheus still runs: {prom.output()[-2000:]}")
            check(ex.alive(), "the exporter still runs")
            check(ex.stop() == 0, f"exporter exits 0 on SIGTERM: {ex.output()}")


def test_bad_requests_get_4xx_and_serving_goes_on():
    with Lab(states=["LISTEN"]) as lab:
        with exporter(lab.netns, "--netns", lab.netns, "--max-connections", "4") as ex:
            wait_serving(lab.netns, ex, EXPORTER_PORT)
            cases = [
                ("POST", lambda: http(lab.netns, EXPORTER_PORT, "/metrics", "POST", body=b"x=1"), 405),
                ("DELETE", lambda: http(lab.netns, EXPORTER_PORT, "/", "DELETE"), 405),
                ("unknown path", lambda: http(lab.netns, EXPORTER_PORT, "/admin"), 404),
                ("GET with a body", lambda: http(lab.netns, EXPORTER_PORT, "/metrics", body=b"x"), 400),
                ("header over 16 KiB", lambda: http(lab.netns, EXPORTER_PORT, "/metrics",
                                                    headers=[("X-Big", "a" * 40000)]), 431),
                ("URI over 16 KiB", lambda: http(lab.netns, EXPORTER_PORT, "/" + "a" * 40000), 414),
                ("header line without a colon", lambda: parse_response(http_raw(
                    lab.netns, EXPORTER_PORT,
                    b"GET /metrics HTTP/1.1\r\nHost: x\r\nbroken\r\n\r\n")), 400),
                ("bad Content-Length", lambda: parse_response(http_raw(
                    lab.netns, EXPORTER_PORT,
                    b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")), 400),
                ("HTTP/0.9 request line", lambda: parse_response(http_raw(
                    lab.netns, EXPORTER_PORT, b"GET /metrics\r\n\r\n")), 400),
            ]
            for what, fn, want in cases:
                st, _, _ = fn()
                check(st == want, f"{what}: HTTP {st}, want {want}")
                st, _, _ = http(lab.netns, EXPORTER_PORT, "/metrics")
                check(st == 200, f"after {what}: /metrics still answers ({st})")
            st, hdrs, body = http(lab.netns, EXPORTER_PORT, "/metrics", "HEAD")
            check(st == 200 and body == b"", f"HEAD: {st}, {len(body)} bytes of body")
            st, hdrs, body = http(lab.netns, EXPORTER_PORT, "/")
            check(st == 200 and b'href="/metrics"' in body, "the landing page links /metrics")

            # --max-connections 4: idle clients hold every slot (8 try: those past the
            # limit are closed at once), a new one is refused, and once they leave the
            # exporter answers again.
            holders = Daemon(lab.netns, [sys.executable, "-c",
                                         "import socket, sys, time\n"
                                         "s = [socket.create_connection(('127.0.0.1', "
                                         f"{EXPORTER_PORT})) for _ in range(8)]\n"
                                         "print('held', flush=True)\ntime.sleep(60)\n"],
                             "idle clients")
            try:
                check(wait_until(lambda: "held" in holders.output(), 15), "idle clients connected")
                # ... and taken by the exporter: nothing left in its accept queue.
                check(wait_until(lambda: [r for r in ss(lab.netns, "-l", "sport", f"= :{EXPORTER_PORT}")
                                          if r[1] == "0"], 15), "the exporter accepted them")
                st, _, _ = http(lab.netns, EXPORTER_PORT, "/metrics")
                check(st is None, f"a connection beyond --max-connections is refused ({st})")
            finally:
                holders.stop(signal.SIGKILL)
            check(wait_until(lambda: http(lab.netns, EXPORTER_PORT, "/metrics")[0] == 200, 15),
                  "serving again after the idle clients left")
            check(ex.alive(), f"the exporter survived: {ex.output()}")


def test_textfile_for_node_exporter():
    with Lab(states=["CLOSE_WAIT"], count=3) as lab, tempfile.TemporaryDirectory() as tmp:
        holder = lab.targets("CLOSE_WAIT")[0]["pid"]
        out = os.path.join(tmp, "tcpstate.prom")
        rc, _, err = run_tcpstate(["metrics", "--netns", lab.netns, "--output", out], timeout=60)
        check(rc == 0, f"metrics --output: exit {rc}: {err}")
        check(stat.S_IMODE(os.stat(out).st_mode) == 0o644, "the file is 0644")
        check(os.listdir(tmp) == ["tcpstate.prom"], f"no temporary file left: {os.listdir(tmp)}")
        with open(out, "rb") as f:
            text = f.read()
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           timeout=30)
        check(r.returncode == 0, f"promtool check metrics: {r.stdout!r} {r.stderr!r}")
        # Written again over the old one (the rename replaces it).
        rc, _, err = run_tcpstate(["metrics", "--netns", lab.netns, "--output", out], timeout=60)
        check(rc == 0 and os.listdir(tmp) == ["tcpstate.prom"], f"rewritten in place: {err}")
        with Daemon(lab.netns, ["prometheus-node-exporter", "--collector.disable-defaults",
                                "--collector.textfile", f"--collector.textfile.directory={tmp}",
                                f"--web.listen-address=127.0.0.1:{NODE_EXPORTER_PORT}"],
                    "node_exporter") as ne:
            wait_serving(lab.netns, ne, NODE_EXPORTER_PORT)
            st, _, body = http(lab.netns, NODE_EXPORTER_PORT, "/metrics")
            text = body.decode(errors="replace")
            check("node_textfile_scrape_error 0" in text,
                  f"textfile collector read it without error: "
                  f"{[l for l in text.splitlines() if 'textfile' in l]} {ne.output()[-2000:]}")
            rows = [(ls, v) for ls, v in re.findall(r'^tcpstate_process_sockets\{([^}]*)\} (\S+)$',
                                                     text, re.M)
                    if f'pid="{holder}"' in ls and 'state="CLOSE_WAIT"' in ls]
            check(len(rows) == 1 and float(rows[0][1]) == 3,
                  f"node_exporter serves the holder's 3 CLOSE_WAIT: {rows}")


def test_failed_snapshot_is_counted_and_serving_goes_on():
    # In our own namespace on a free port of 127.0.0.1, over a namespace that goes away.
    name = f"tsexp-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        with Daemon(None, [tcpstate_path(), "exporter", "--listen", "127.0.0.1:0", "--netns", name],
                    "exporter") as ex:
            m = wait_until(lambda: re.search(r"listening on http://127\.0\.0\.1:(\d+)/metrics",
                                              ex.output()), 30, 0.1)
            if not check(m, f"the exporter says its port: {ex.output()}"):
                return
            port = int(m.group(1))
            st, _, body = http(None, port, "/metrics")
            check(st == 200 and b"\ntcpstate_scrape_success 1\n" in body and
                  f'tcpstate_sockets{{netns="{name}"'.encode() in body, "a snapshot of the namespace")
            subprocess.run(["ip", "netns", "del", name], check=True, capture_output=True)
            for n in (1, 2):
                st, _, body = http(None, port, "/metrics")
                check(st == 200 and b"\ntcpstate_scrape_success 0\n" in body and
                      f"\ntcpstate_scrape_errors_total {n}\n".encode() in body and
                      b"tcpstate_sockets{" not in body,
                      f"failed snapshot {n}: success 0, errors {n}, no socket series: {body[-600:]!r}")
            check(ex.output().count("snapshot failed") == 1,
                  f"the failure said once on stderr: {ex.output()!r}")
            check(ex.alive(), "the exporter goes on")
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_check_exit_codes():
    with Lab(states=["LISTEN", "ESTABLISHED"]) as lab:
        r = subprocess.run([tcpstate_path(), "check", "--netns", lab.netns], capture_output=True,
                           text=True, timeout=60)
        check(r.returncode == 0, f"clean namespace: exit {r.returncode}: {r.stdout} {r.stderr}")
        check(r.stdout.startswith("TCPSTATE OK - 0 critical, 0 warning") and " | " in r.stdout
              and "established=2;" in r.stdout and r.stdout.count("\n") == 1,
              f"one OK line with performance data: {r.stdout!r}")
    r = subprocess.run([tcpstate_path(), "check", "--no-such-option"], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 3, f"usage error: UNKNOWN (3), got {r.returncode}")
    with Lab(states=["LISTEN"], leak=50) as lab:
        check(wait_until(lambda: lab.leak, 15) is not None, "the lab's leak started")
        server = lab.leak["server_pid"]
        last = {}

        def critical():
            r = subprocess.run([tcpstate_path(), "check", "--netns", lab.netns],
                               capture_output=True, text=True, timeout=60)
            last["r"] = r
            return r.returncode == 2
        # 100 CLOSE_WAIT sockets older than --min-age (2 s) make it critical.
        check(wait_until(critical, 60, 0.5), f"the leak: exit 2 (CRITICAL): {last['r'].stdout!r}")
        out = last["r"].stdout
        check(out.startswith("TCPSTATE CRITICAL - ") and f"pid {server} tslab-leaky" in out,
              f"status line names the leaky pid: {out!r}")


def main():
    skip_unless_root()
    need_programs("prometheus", "promtool", "prometheus-node-exporter", "ss", "ip")
    run_named([
        ("prometheus_scrapes_the_leak", test_prometheus_scrapes_the_leak),
        ("bad_requests_get_4xx_and_serving_goes_on", test_bad_requests_get_4xx_and_serving_goes_on),
        ("textfile_for_node_exporter", test_textfile_for_node_exporter),
        ("failed_snapshot_is_counted_and_serving_goes_on",
         test_failed_snapshot_is_counted_and_serving_goes_on),
        ("check_exit_codes", test_check_exit_codes),
    ], "exporter", only=sys.argv[1:])


if __name__ == "__main__":
    main()
