#!/usr/bin/env bash
# Set up pipeline-kit in ./.venv. As root on Debian, also the real components it drives:
# git, docker.io, docker-registry, haproxy and busybox-static; with "test", also the test tools and
# the PostgreSQL server the store tests run against, groovy for the Jenkins library,
# chromium with chromium-driver for the dashboard, and iproute2/openssh-server for the
# multi-host test bed.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "test" ] && want_tests=1

apt_install() {
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    else
        echo "setup: please install the Debian packages: $*" >&2
    fi
}

python=${PYTHON:-python3}
if ! "$python" -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    apt_install python3 python3-venv python3-pip
fi
# The real components: git, a Docker engine, a registry and busybox for images FROM scratch.
missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx httpd || missing+=(busybox-static)
# Freeze windows are computed in IANA time zones (zoneinfo reads the system's database).
[ -f /usr/share/zoneinfo/Europe/Helsinki ] || missing+=(tzdata)
if [ "$want_tests" = 1 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    && ! command -v initdb >/dev/null 2>&1; then
    missing+=(postgresql)
fi
# The multi-host tests run engines in network namespaces (ip, nsenter) and one behind sshd.
if [ "$want_tests" = 1 ]; then
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
fi
# The test suite also parses the Jenkins library with Debian's groovy.
if [ "$want_tests" = 1 ] && ! command -v groovy >/dev/null 2>&1; then
    missing+=(groovy default-jre-headless)
fi
# The dashboard's tests drive Debian's headless Chromium through its chromedriver.
if [ "$want_tests" = 1 ] && { ! command -v chromium >/dev/null 2>&1 \
    || ! command -v chromedriver >/dev/null 2>&1; }; then
    missing+=(chromium chromium-driver)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
if [ "$want_tests" = 1 ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
else
    .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
