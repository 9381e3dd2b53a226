# SPDX-License-Identifier: MIT
"""`tcpstate exporter --web.config.file`: TLS, client certificates and basic
authentication in the exporter-toolkit's web configuration format, against
real clients: Python's ssl (OpenSSL) inside the lab's namespace, and a real
Prometheus scraping over HTTPS with basic_auth. Certificates are made by
`openssl` and the bcrypt hashes by `htpasswd` (apache2-utils), so neither
comes from the code under test. Bad configurations exit 2 naming the problem.

Every daemon runs inside a lab namespace on 127.0.0.1 and is killed on every
exit path (test_exporter.Daemon)."""

import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import (Lab, check, need_programs, run_named,  # noqa: E402
                   skip_unless_root, tcpstate_path, wait_until)
from test_exporter import (EXPORTER_PORT, PROMETHEUS_PORT, Daemon,  # noqa: E402
                           http, http_raw, parse_response, prom_query, wait_serving)

USER, PASSWORD = "prometheus", "s3cret pass:word"

# Runs inside a namespace: one HTTPS request with Python's ssl (OpenSSL), the
# server's certificate verified against the CA and 127.0.0.1; prints JSON:
# {"version", "raw"} or {"error"}.
_TLS_SNIPPET = r"""
import base64, json, socket, ssl, sys
a = json.loads(sys.argv[1])
out = {}
try:
    ctx = ssl.create_default_context(cafile=a["ca"])
    if a.get("max"):
        ctx.maximum_version = getattr(ssl.TLSVersion, a["max"])
    if a.get("cert"):
        ctx.load_cert_chain(a["cert"], a["key"])
    s = socket.create_connection(("127.0.0.1", a["port"]), timeout=20)
    t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    out["version"] = t.version()
    req = f"GET {a['path']} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if a.get("auth") is not None:
        req += "Authorization: Basic " + base64.b64encode(a["auth"].encode()).decode() + "\r\n"
    t.sendall((req + "\r\n").encode())
    data = b""
    while True:
        b = t.recv(65536)
        if not b:
            break
        data += b
    out["raw"] = base64.b64encode(data).decode()
except (OSError, ssl.SSLError) as e:
    out["error"] = f"{type(e).__name__}: {e}"
print(json.dumps(out))
"""


def https(netns, ca, path="/metrics", auth=None, tls_max=None, cert=None, key=None,
          port=EXPORTER_PORT):
    """(status, headers, body, tls version, error) of one HTTPS request; status
    None when no HTTP answer came (a refused handshake, a closed connection)."""
    arg = {"port": port, "path": path, "ca": ca, "auth": auth, "max": tls_max, "cert": cert,
           "key": key}
    r = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", _TLS_SNIPPET,
                        json.dumps(arg)], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"TLS helper failed: {r.stderr}")
    out = json.loads(r.stdout)
    raw = base64.b64decode(out.get("raw", ""))
    st, hdrs, body = parse_response(raw) if raw.startswith(b"HTTP/") else (None, {}, raw)
    return st, hdrs, body, out.get("version"), out.get("error")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, timeout=60, **kw)


class Pki:
    """A CA, a server certificate for 127.0.0.1 signed by it, a client
    certificate signed by it, and a self-signed client certificate it did not
    sign; a bcrypt hash of PASSWORD. All in dir, keys mode 0600."""

    def __init__(self, d):
        self.dir = d
        p = lambda n: os.path.join(d, n)  # noqa: E731
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        run(["openssl", "req", "-x509", *ec, "-keyout", p("ca.key"), "-out", p("ca.crt"),
             "-days", "2", "-subj", "/CN=tcpstate test CA"])
        with open(p("server.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        for name, ext in (("server", ["-extfile", p("server.ext")]), ("client", [])):
            run(["openssl", "req", *ec, "-keyout", p(f"{name}.key"), "-out", p(f"{name}.csr"),
                 "-subj", f"/CN=tcpstate test {name}"])
            run(["openssl", "x509", "-req", "-in", p(f"{name}.csr"), "-CA", p("ca.crt"),
                 "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p(f"{name}.crt"),
                 "-days", "2", *ext])
        run(["openssl", "req", "-x509", *ec, "-keyout", p("rogue.key"), "-out", p("rogue.crt"),
             "-days", "2", "-subj", "/CN=tcpstate test rogue"])
        for k in ("ca.key", "server.key", "client.key", "rogue.key"):
            os.chmod(p(k), 0o600)
        self.ca, self.server_crt, self.server_key = p("ca.crt"), p("server.crt"), p("server.key")
        self.client_crt, self.client_key = p("client.crt"), p("client.key")
        self.rogue_crt, self.rogue_key = p("rogue.crt"), p("rogue.key")
        self.hash = self.bcrypt(PASSWORD)

    @staticmethod
    def bcrypt(password):
        out = run(["htpasswd", "-nbBC", "10", USER, password], text=True).stdout.strip()
        h = out.split(":", 1)[1]
        assert re.fullmatch(r"\$2y\$10\$[./A-Za-z0-9]{53}", h), out
        return h

    def config(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return path


def tls_config(pki, extra_tls="", users=True, extra=""):
    # Relative file names: relative to the config file's directory (the exporter runs elsewhere).
    text = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n" + extra_tls
    if users:
        text += f"basic_auth_users:\n  {USER}: '{pki.hash}'\n"
    return text + extra


def exporter(netns, config):
    return Daemon(netns, [tcpstate_path(), "exporter", "--listen", f"127.0.0.1:{EXPORTER_PORT}",
                          "--netns", netns, "--web.config.file", config], "exporter")


def wait_tls_serving(netns, ex, pki, **kw):
    def up():
        if not ex.alive():
            raise AssertionError(f"exporter exited: {ex.output()}")
        return https(netns, pki.ca, **kw)[0] == 200
    if not wait_until(up, 60, 0.2):
        raise AssertionError(f"exporter not serving over TLS in 60 s: {ex.output()}")


def test_tls_and_basic_auth(pki):
    cfg = pki.config("web.yml", tls_config(pki, extra="http_server_config:\n  headers:\n"
                                                      "    X-Frame-Options: deny\n"))
    with Lab(states=["LISTEN"]) as lab, exporter(lab.netns, cfg) as ex:
        wait_tls_serving(lab.netns, ex, pki, auth=f"{USER}:{PASSWORD}")
        check(re.search(r"exporter listening on https://127\.0\.0\.1:\d+/metrics", ex.output()),
              f"says https: {ex.output()}")
        check("warning" not in ex.output(), f"no warning for files of mode 0600: {ex.output()}")
        st, hdrs, body, version, err = https(lab.netns, pki.ca, auth=f"{USER}:{PASSWORD}")
        check(st == 200 and f'tcpstate_sockets{{netns="{lab.netns}"'.encode() in body,
              f"right password: 200 with the metrics ({st}, {err}, {body[:200]!r})")
        check(version in ("TLSv1.2", "TLSv1.3"), f"TLS: {version}")
        check(hdrs.get("x-frame-options") == "deny", f"the configured header: {hdrs}")
        st, hdrs, body, _, _ = https(lab.netns, pki.ca, "/", auth=f"{USER}:{PASSWORD}")
        check(st == 200 and b'href="/metrics"' in body, f"the landing page behind auth: {st}")
        for what, auth in (("wrong password", f"{USER}:wrong"), ("no credentials", None),
                           ("unknown user", f"nobody:{PASSWORD}"), ("empty password", f"{USER}:"),
                           ("password prefix", f"{USER}:{PASSWORD[:-1]}")):
            for path in ("/metrics", "/"):
                st, hdrs, body, _, err = https(lab.netns, pki.ca, path, auth=auth)
                check(st == 401, f"{what} on {path}: 401 ({st}, {err})")
                check(hdrs.get("www-authenticate", "").startswith("Basic realm="),
                      f"{what}: WWW-Authenticate: Basic realm=...: {hdrs}")
                check(b"tcpstate" not in body, f"{what}: nothing leaks: {body!r}")
        # Any path unauthenticated: 401, before the path is looked at.
        st, _, _, _, _ = https(lab.netns, pki.ca, "/nowhere", auth=None)
        check(st == 401, f"any path unauthenticated: 401 ({st})")
        # Plain HTTP to the TLS port: no HTTP answer.
        out = http_raw(lab.netns, EXPORTER_PORT,
                       b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        check(not out.startswith(b"HTTP/") and b"tcpstate_" not in out,
              f"plain HTTP to the TLS port gets no HTTP answer: {out[:100]!r}")
        st, _, _, _, _ = https(lab.netns, pki.ca, auth=f"{USER}:{PASSWORD}")
        check(st == 200, f"still serving after all that ({st})")
        check(ex.alive() and ex.stop() == 0, f"exits 0 on SIGTERM: {ex.output()}")


def test_tls_versions(pki):
    cfg13 = pki.config("web13.yml", tls_config(pki, "  min_version: TLS13\n", users=False))
    cfg12 = pki.config("web12.yml", tls_config(pki, "  max_version: TLS12\n", users=False))
    with Lab(states=["LISTEN"]) as lab:
        with exporter(lab.netns, cfg13) as ex:
            wait_tls_serving(lab.netns, ex, pki)
            st, _, _, version, err = https(lab.netns, pki.ca)
            check(st == 200 and version == "TLSv1.3", f"TLS 1.3 client: {st} {version} {err}")
            st, _, _, version, err = https(lab.netns, pki.ca, tls_max="TLSv1_2")
            check(st is None and err and "SSL" in err,
                  f"min_version TLS13: a TLS 1.2-only client is refused ({st}, {version}, {err})")
        with exporter(lab.netns, cfg12) as ex:
            wait_tls_serving(lab.netns, ex, pki)
            st, _, _, version, err = https(lab.netns, pki.ca)
            check(st == 200 and version == "TLSv1.2",
                  f"max_version TLS12: TLS 1.2 even for a 1.3 client ({st}, {version}, {err})")


def test_client_certificates(pki):
    cfg = pki.config("webca.yml", tls_config(
        pki, "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"))
    auth = f"{USER}:{PASSWORD}"
    with Lab(states=["LISTEN"]) as lab, exporter(lab.netns, cfg) as ex:
        wait_tls_serving(lab.netns, ex, pki, auth=auth, cert=pki.client_crt, key=pki.client_key)
        st, _, body, _, err = https(lab.netns, pki.ca, auth=auth, cert=pki.client_crt,
                                    key=pki.client_key)
        check(st == 200 and b"tcpstate_sockets{" in body, f"a client certificate of the CA: {st} {err}")
        st, _, _, _, err = https(lab.netns, pki.ca, auth=auth)
        check(st is None, f"no client certificate: refused in the handshake ({st}, {err})")
        st, _, _, _, err = https(lab.netns, pki.ca, auth=auth, cert=pki.rogue_crt, key=pki.rogue_key)
        check(st is None, f"a certificate the CA did not sign: refused ({st}, {err})")
        st, _, _, _, err = https(lab.netns, pki.ca, auth=f"{USER}:wrong", cert=pki.client_crt,
                                 key=pki.client_key)
        check(st == 401, f"a good certificate does not replace the password: {st}")
        check(ex.alive(), f"still running: {ex.output()}")


def test_prometheus_scrapes_over_tls(pki):
    cfg = pki.config("webprom.yml", tls_config(pki))
    with Lab(states=["LISTEN"]) as lab, tempfile.TemporaryDirectory() as tmp, \
            exporter(lab.netns, cfg) as ex:
        wait_tls_serving(lab.netns, ex, pki, auth=f"{USER}:{PASSWORD}")
        prom_cfg = os.path.join(tmp, "prometheus.yml")
        job = ("  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: {ca}\n"
               "    basic_auth:\n      username: {user}\n      password: '{pw}'\n"
               f"    static_configs:\n      - targets: ['127.0.0.1:{EXPORTER_PORT}']\n")
        with open(prom_cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n")
            f.write(job.format(name="tcpstate", ca=pki.ca, user=USER, pw=PASSWORD))
            f.write(job.format(name="wrongpw", ca=pki.ca, user=USER, pw="wrong"))
        with Daemon(lab.netns, ["prometheus", f"--config.file={prom_cfg}",
                                f"--storage.tsdb.path={tmp}/data",
                                f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"],
                    "prometheus") as prom:
            wait_serving(lab.netns, prom, PROMETHEUS_PORT, "/-/ready", 90)
            up = wait_until(lambda: [r for r in prom_query(lab.netns, 'up{job="tcpstate"}') or []
                                     if r["value"][1] == "1"], 60, 0.5)
            check(up, f"Prometheus scrapes over TLS with basic_auth: up == 1 "
                      f"({prom_query(lab.netns, 'up')})")
            ok = wait_until(lambda: prom_query(
                lab.netns, f'tcpstate_scrape_success{{job="tcpstate"}} == 1'), 30, 0.5)
            check(ok, "the exporter's series reached Prometheus")
            down = wait_until(lambda: prom_query(lab.netns, 'up{job="wrongpw"} == 0'), 60, 0.5)
            check(down, f"the job with a wrong password: up == 0 ({prom_query(lab.netns, 'up')})")
            check(not prom_query(lab.netns, 'tcpstate_scrape_success{job="wrongpw"}'),
                  "no series through the wrong password")
            check(prom.alive(), f"prometheus still runs: {prom.output()[-2000:]}")
        check(ex.alive(), f"the exporter still runs: {ex.output()}")


def test_sighup_reads_the_config_again(pki):
    cfg = pki.config("webhup.yml", tls_config(pki))
    new_hash = Pki.bcrypt("new password")
    with Lab(states=["LISTEN"]) as lab, exporter(lab.netns, cfg) as ex:
        wait_tls_serving(lab.netns, ex, pki, auth=f"{USER}:{PASSWORD}")
        with open(cfg, "w") as f:
            f.write(tls_config(pki).replace(pki.hash, new_hash))
        os.kill(ex.p.pid, signal.SIGHUP)  # ip netns exec execs tcpstate: the same pid
        check(wait_until(lambda: "read again" in ex.output(), 15, 0.1), f"SIGHUP: {ex.output()}")
        st = https(lab.netns, pki.ca, auth=f"{USER}:new password")[0]
        check(st == 200, f"after SIGHUP the new password works ({st})")
        st = https(lab.netns, pki.ca, auth=f"{USER}:{PASSWORD}")[0]
        check(st == 401, f"after SIGHUP the old password is refused ({st})")
        with open(cfg, "a") as f:
            f.write("bogus: 1\n")
        os.kill(ex.p.pid, signal.SIGHUP)
        check(wait_until(lambda: "is kept" in ex.output(), 15, 0.1),
              f"an invalid config on SIGHUP is said and not applied: {ex.output()}")
        check("unknown key 'bogus'" in ex.output(), f"naming the problem: {ex.output()}")
        st = https(lab.netns, pki.ca, auth=f"{USER}:new password")[0]
        check(st == 200 and ex.alive(), f"still serving with the config in use ({st})")
        # 0: nothing leaked of the replaced server (LeakSanitizer's exit code in build-asan).
        check(ex.stop() == 0, f"exits 0 on SIGTERM after the reloads: {ex.output()}")


def test_no_tls_no_users_is_plain_http(pki):
    cfg = pki.config("webplain.yml", "http_server_config:\n  http2: false\n")
    with Lab(states=["LISTEN"]) as lab, exporter(lab.netns, cfg) as ex:
        wait_serving(lab.netns, ex, EXPORTER_PORT)
        st, _, body = http(lab.netns, EXPORTER_PORT, "/metrics")
        check(st == 200 and b"tcpstate_sockets{" in body, f"plain HTTP, no auth: {st}")
        st, _, body = http(lab.netns, EXPORTER_PORT, "/")
        check(st == 200 and b'href="/metrics"' in body, "the landing page as without a config")
        check("listening on http://" in ex.output(), ex.output())
    # An empty FILE is no web config, as for exporter-toolkit (a unit's empty variable).
    with Lab(states=["LISTEN"]) as lab, exporter(lab.netns, "") as ex:
        wait_serving(lab.netns, ex, EXPORTER_PORT)
        st, _, _ = http(lab.netns, EXPORTER_PORT, "/metrics")
        check(st == 200 and "listening on http://" in ex.output(), f"--web.config.file '': {st}")


def test_bad_configs_exit_2(pki):
    other = os.path.join(pki.dir, "other")
    os.makedirs(other, exist_ok=True)
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", os.path.join(other, "k.pem"), "-out", os.path.join(other, "c.pem"),
         "-days", "2", "-subj", "/CN=x"])
    cases = [
        ("unknown key", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                        "  certfile: x\n", ["line 4", "unknown key 'certfile'"]),
        ("missing key_file", "tls_server_config:\n  cert_file: server.crt\n", ["missing key_file"]),
        ("bad hash", f"basic_auth_users:\n  {USER}: s3cret\n", ["line 2", f"user '{USER}'",
                                                               "not a bcrypt hash"]),
        ("bad YAML", "tls_server_config:\n  cert_file: [server.crt\n", ["not valid YAML"]),
        ("key file absent", "tls_server_config:\n  cert_file: server.crt\n  key_file: nokey.pem\n",
         ["key_file", "nokey.pem", "No such file"]),
        ("key of another certificate", "tls_server_config:\n  cert_file: server.crt\n"
                                       "  key_file: other/k.pem\n", ["does not match"]),
        ("client CA without the mode", "tls_server_config:\n  cert_file: server.crt\n"
                                       "  key_file: server.key\n  client_ca_file: ca.crt\n",
         ["client_auth_type"]),
        ("unsupported cipher_suites", "tls_server_config:\n  cert_file: server.crt\n"
                                      "  key_file: server.key\n  cipher_suites: "
                                      "[TLS_AES_128_GCM_SHA256]\n", ["cipher_suites is not supported"]),
    ]
    for what, text, want in cases:
        cfg = pki.config("bad.yml", text)
        r = subprocess.run([tcpstate_path(), "exporter", "--listen", "127.0.0.1:0",
                            "--web.config.file", cfg], capture_output=True, text=True, timeout=60)
        check(r.returncode == 2, f"{what}: exit 2, got {r.returncode}: {r.stderr}")
        check(cfg in r.stderr and all(w in r.stderr for w in want),
              f"{what}: the message names the file and {want}: {r.stderr!r}")
        check("listening" not in r.stderr, f"{what}: fails before listening: {r.stderr}")
    r = subprocess.run([tcpstate_path(), "exporter", "--web.config.file",
                        os.path.join(pki.dir, "absent.yml")], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 2 and "absent.yml: No such file" in r.stderr,
          f"a config file that is not there: exit 2 ({r.returncode}): {r.stderr}")
    # World-readable key and config: served, with a warning.
    cfg = pki.config("webworld.yml", tls_config(pki))
    os.chmod(cfg, 0o644)
    with Lab(states=["LISTEN"]) as lab, exporter(lab.netns, cfg) as ex:
        wait_tls_serving(lab.netns, ex, pki, auth=f"{USER}:{PASSWORD}")
        check(re.search(r"webworld\.yml \(the web config, with password hashes\) is readable by "
                        r"every user \(mode 0644\)", ex.output()), f"warned: {ex.output()}")


def main():
    skip_unless_root()
    need_programs("prometheus", "openssl", "htpasswd", "ip")
    with tempfile.TemporaryDirectory() as d:
        pki = Pki(d)
        run_named([(name, lambda fn=fn: fn(pki)) for name, fn in [
            ("tls_and_basic_auth", test_tls_and_basic_auth),
            ("tls_versions", test_tls_versions),
            ("client_certificates", test_client_certificates),
            ("prometheus_scrapes_over_tls", test_prometheus_scrapes_over_tls),
            ("sighup_reads_the_config_again", test_sighup_reads_the_config_again),
            ("no_tls_no_users_is_plain_http", test_no_tls_no_users_is_plain_http),
            ("bad_configs_exit_2", test_bad_configs_exit_2),
        ]], "exporter TLS", only=sys.argv[1:])


if __name__ == "__main__":
    main()
