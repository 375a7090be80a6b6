#!/usr/bin/env bash
# The main job on the embedded defaults (SQLite state, a local registry): the example
# service is tagged v0.1.0 … v0.4.0, each tag built, pushed and released into dev, and
# versions promoted dev → qa → prod. Each stage has an endpoint served by HAProxy; at the
# end every stage's endpoint and every container is fetched.
#
# It uses the Docker engine at $DOCKER_HOST or /var/run/docker.sock when one answers;
# otherwise (as root) it starts a private dockerd, as the tests do. The registry is
# Debian's docker-registry on a free 127.0.0.1 port. Everything it starts is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/setup.sh
pk="$root/.venv/bin/pipeline-kit"
py="$root/.venv/bin/python"
work=$(mktemp -d "/tmp/pipeline-kit-demo.XXXXXX")
pids=()
docker_url=""

cleanup() {
    if [ -d "$work/webapp/.pipeline-kit/haproxy" ]; then
        "$py" -c 'import sys; from pathlib import Path; from pipeline_kit.lb.haproxy import HAProxy; HAProxy(Path(sys.argv[1])).stop()' \
            "$work/webapp/.pipeline-kit/haproxy" 2>/dev/null || true
    fi
    if [ -n "$docker_url" ]; then
        ids=$(docker -H "$docker_url" ps -aq --filter label=io.pipeline-kit.service 2>/dev/null || true)
        [ -z "$ids" ] || docker -H "$docker_url" rm -f $ids >/dev/null 2>&1 || true
    fi
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    umount "$work/docker/exec/netns/"* 2>/dev/null || true
    rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

answers() { docker -H "$1" version >/dev/null 2>&1; }
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for SECONDS COMMAND...
    local limit=$1; shift
    for _ in $(seq $((limit * 5))); do "$@" && return 0; sleep 0.2; done
    echo "demo: timed out waiting for: $*" >&2; return 1
}

for candidate in "${DOCKER_HOST:-}" unix:///var/run/docker.sock; do
    if [ -n "$candidate" ] && answers "$candidate"; then docker_url=$candidate; break; fi
done
if [ -z "$docker_url" ]; then
    echo "demo: no Docker engine answers; starting a private dockerd in $work/docker"
    mkdir -p "$work/docker"
    docker_url="unix://$work/docker/docker.sock"
    dockerd --host="$docker_url" --data-root="$work/docker/data" --exec-root="$work/docker/exec" \
        --pidfile="$work/docker/docker.pid" --storage-driver=vfs --bridge=none \
        --iptables=false --ip6tables=false >"$work/docker/dockerd.log" 2>&1 &
    pids+=($!)
    wait_for 60 answers "$docker_url"
fi

registry_port=$(free_port)
mkdir -p "$work/registry"
cat >"$work/registry/config.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry/data}, delete: {enabled: true}}
http: {addr: "127.0.0.1:$registry_port"}
EOF
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
pids+=($!)
wait_for 30 "$py" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$registry_port/v2/')"

# A git repository of the example service, configured for this engine and registry.
cp -r examples/webapp "$work/webapp"
cp /bin/busybox "$work/webapp/busybox"
cd "$work/webapp"
git init -q -b main .
git -c user.name=demo -c user.email=demo@example.com commit -qm "webapp" --allow-empty
git add -A && git -c user.name=demo -c user.email=demo@example.com commit -qm "webapp 0.1.0"
export PIPELINE_KIT_REGISTRY__URL="127.0.0.1:$registry_port"
export PIPELINE_KIT_HOSTS="local=$docker_url"
export PIPELINE_KIT_HEALTH_TIMEOUT=30s
# The service's secret, as a CI runner would hand it over (never in the config or the state).
API_TOKEN=$("$py" -c 'import secrets; print(secrets.token_hex(16))')
export API_TOKEN

run() { printf '\n$ pipeline-kit %s\n' "$*"; "$pk" "$@"; }
tag() {  # tag VERSION: a commit that changes the app, tagged vVERSION
    echo "$1" >RELEASE
    git add RELEASE
    git -c user.name=demo -c user.email=demo@example.com commit -qm "release $1"
    git tag "v$1"
    printf '\n$ git tag v%s\n' "$1"
}

run init
tag 0.1.0
run release --dry-run
run release     # the first release creates the service declared in pipeline-kit.toml
web_port=$(free_port); qa_port=$(free_port); dev_port=$(free_port)
run endpoint add web --service webapp --port "$web_port" --stage prod
run endpoint add web-qa --service webapp --port "$qa_port" --stage qa
run endpoint add web-dev --service webapp --port "$dev_port" --stage dev
tag 0.2.0
run release
run promote webapp --to qa --dry-run
run promote webapp --to qa
tag 0.3.0
run release
run promote webapp --to prod
tag 0.4.0
run release
run show services
run show containers
run upstream webapp
run verify
run lb status
run show metrics
run dashboard --out "$work/dashboard"

printf '\nEach stage, fetched through its HAProxy endpoint:\n'
for pair in "prod:$web_port" "qa:$qa_port" "dev:$dev_port"; do
    url="http://127.0.0.1:${pair#*:}/"
    body=$("$py" -c '
import sys, urllib.request as u
page = u.urlopen(sys.argv[1], timeout=5).read().decode().strip().splitlines()
schema = u.urlopen(sys.argv[1] + "schema", timeout=5).read().decode().strip()
print(" | ".join([*page, "schema " + schema]))' "$url")
    printf '  %-5s %-28s -> %s\n' "${pair%%:*}" "$url" "$body"
done

printf '\nEach stage, fetched from its container:\n'
"$pk" show containers --json | "$py" -c '
import json, sys, urllib.request
for service in json.load(sys.stdin):
    for stack in service["stacks"]:
        for c in stack["containers"]:
            url = "http://" + c["address"] + "/"
            body = " | ".join(urllib.request.urlopen(url, timeout=5).read().decode().strip().splitlines())
            print("  stack", stack["index"], c["stage"].ljust(5), url.ljust(28), "->", body)
'
