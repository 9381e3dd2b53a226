#!/bin/sh
# Installs what tcpstate needs to build, test, package and benchmark on Debian 12 (run as root).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	gcc libc6-dev meson ninja-build pkg-config \
	libmnl-dev libjson-c-dev libcmocka-dev libnftables-dev libncurses-dev \
	nftables iproute2 net-tools lsof procps python3 netcat-openbsd netbase \
	clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libbpf-tools \
	nginx-light apache2 haproxy redis-server redis-tools socat python3-requests \
	libclang-rt-14-dev \
	libmicrohttpd-dev prometheus prometheus-node-exporter systemd \
	libyaml-dev libgnutls28-dev libcrypt-dev openssl apache2-utils \
	scdoc man-db groff-base bash-completion zsh \
	debhelper dpkg-dev fakeroot lintian mmdebstrap >/dev/null
# The packages above are the real programs of tests/integration/test_doctor_real.py and
# test_exporter.py (prometheus, prometheus-node-exporter; test_exporter_tls.py also openssl and
# htpasswd from apache2-utils, for its certificates and bcrypt hashes), which run them only in throwaway
# namespaces with their own configuration. Installing them must not leave them running on
# the host: stop whatever their packages started.
for svc in nginx apache2 apache-htcacheclean haproxy redis-server prometheus prometheus-node-exporter; do
	if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl disable --now --quiet "$svc" || true
	fi
done
echo "install-deps: done"
