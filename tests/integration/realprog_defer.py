# SPDX-License-Identifier: MIT
"""A real nginx (nginx-light) with `listen ... deferred` (TCP_DEFER_ACCEPT) in a
throwaway network namespace, with its configuration in a temporary directory:
never the host's /etc, never a service on the host. And idle clients in the
same namespace that connect and send nothing."""

import os
import secrets
import shutil
import signal
import subprocess
import tempfile

from tslab import need_programs, wait_until

NGINX = "/usr/sbin/nginx"

CONF = """daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} deferred backlog={backlog};
        return 200 "ok\\n";
    }}
}}
"""

# Opens `count` connections to 127.0.0.1:PORT without sending anything (and one
# socket it never uses: IDLE), prints their local ports, and holds them until
# stdin closes.
CLIENT = r"""
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
idle = socket.socket()
socks = []
for _ in range(count):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
sys.stdin.read()
"""


class DeferredNginx:
    """nginx listening on 127.0.0.1:port with TCP_DEFER_ACCEPT in its own namespace."""

    def __init__(self, port=8080, backlog=8):
        need_programs(NGINX)  # nginx-light
        self.port, self.backlog = port, backlog
        self.netns = f"tsdefer-{secrets.token_hex(4)}"
        self.dir = None
        self.proc = None

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="tsdefer-")
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(d=self.dir, port=self.port, backlog=self.backlog))
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, NGINX, "-c", conf, "-p", self.dir,
             "-e", os.path.join(self.dir, "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait_until(self.listening, 10):
            err = self.proc.stderr.read().decode() if self.proc.poll() is not None else ""
            self.__exit__(None, None, None)
            raise AssertionError(f"nginx did not start listening: {err}")
        return self

    def listening(self):
        r = subprocess.run(["ip", "netns", "exec", self.netns, "ss", "-Hltn",
                            f"sport = :{self.port}"], capture_output=True, text=True)
        return r.stdout.strip() != ""

    def clients(self, count):
        """Idle clients in the namespace: (process, their local ports); close with
        close_clients(). The process (its pid is p.pid's child: `ip netns exec`
        execs, so it is p.pid) also holds one IDLE socket."""
        p = subprocess.Popen(["ip", "netns", "exec", self.netns, "python3", "-c", CLIENT,
                              str(self.port), str(count)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ports = [int(x) for x in p.stdout.readline().split()]
        return p, ports

    @staticmethod
    def close_clients(p):
        p.stdin.close()
        p.wait(timeout=10)

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # nginx: fast shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False
