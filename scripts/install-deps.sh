#!/bin/sh
# Installs what tcpstate needs to build, test, package and benchmark on Debian 12 (run as root).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	gcc libc6-dev meson ninja-build pkg-config \
	libmnl-dev libjson-c-dev libcmocka-dev libnftables-dev \
	nftables iproute2 net-tools lsof procps python3 netcat-openbsd \
	clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev \
	scdoc man-db groff-base bash-completion zsh \
	debhelper dpkg-dev fakeroot lintian mmdebstrap >/dev/null
echo "install-deps: done"
