#!/usr/bin/env bash
# Builds and runs the examples in Examples/ (a package of its own; README, "Examples"):
#   1. contacts: the typed API's scenario, which checks its own results (exit status 1 on a failure);
#   2. kv-server: started in the background on a free port of 127.0.0.1, on a new file, and exercised
#      with real HTTP requests through curl: each route's status codes and bodies, percent-encoded
#      keys, binary values, a body over the limit, 8 concurrent clients writing and reading, every
#      value verified afterwards, a graceful stop, then a restart on the same file that still has them.
# Exits non-zero on any failure. Run by .ci/run; installs curl with apt-get when it is missing.
#
#   scripts/examples.sh                     debug build (the faster one to build: Hummingbird)
#   EXAMPLES_CONFIG=release scripts/examples.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then export PATH=/opt/swift/usr/bin:$PATH; fi
config=${EXAMPLES_CONFIG:-debug}

if ! command -v curl >/dev/null 2>&1; then
    echo "== installing curl"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq curl
fi

echo "== build Examples/ ($config; warnings in the examples fail the build)"
started=$(date +%s)
(cd Examples && swift build -c "$config") 2>&1 | tee .examples-build.log
if grep -E "^/.*/Examples/Sources/.*warning:" .examples-build.log; then
    echo "examples: the build has warnings (listed above)"; exit 1
fi
echo "examples: built in $(( $(date +%s) - started )) s"
bin=$(cd Examples && swift build -c "$config" --show-bin-path)

echo "== contacts"
"$bin/contacts"

echo "== kv-server"
work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() { echo "  FAIL  $*"; failures=$((failures + 1)); }

# Starts kv-server on a free port (the system picks it: --port 0; the server prints it) and sets $base.
start_server() {
    : > "$work/server.log"
    "$bin/kv-server" --port 0 --path "$work/kv.larch" > "$work/server.log" 2>&1 &
    server=$!
    local port=""
    for _ in $(seq 1 300); do
        port=$(sed -n 's/^kv-server listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$work/server.log")
        [ -n "$port" ] && break
        kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; echo "examples: kv-server exited at start"; exit 1; }
        sleep 0.1
    done
    [ -n "$port" ] || { cat "$work/server.log"; echo "examples: kv-server did not start listening in 30 s"; exit 1; }
    base="http://127.0.0.1:$port"
    echo "  kv-server (pid $server) listening at $base"
}

# Stops kv-server with SIGTERM and expects a graceful exit (status 0) within 30 s.
stop_server() {
    kill -TERM "$server"
    local status=0
    for _ in $(seq 1 300); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$server" 2>/dev/null; then
        kill -KILL "$server"; fail "kv-server did not stop within 30 s of SIGTERM"
    fi
    wait "$server" || status=$?
    [ "$status" -eq 0 ] || { cat "$work/server.log"; fail "kv-server exited with status $status after SIGTERM"; }
    server=""
}

# check METHOD PATH EXPECTED_STATUS [EXPECTED_BODY [REQUEST_BODY_FILE]]: one request, its status and
# body checked (an EXPECTED_BODY of - is not checked).
check() {
    local method=$1 path=$2 want=$3 args=(-s -o "$work/body" -w '%{http_code}' --max-time 20 -X "$1")
    if [ $# -ge 5 ]; then args+=(-H 'Content-Type: application/octet-stream' --data-binary "@$5"); fi
    local got
    got=$(curl "${args[@]}" "$base$path") || { fail "$method $path: curl failed (exit $?)"; return; }
    if [ "$got" != "$want" ]; then fail "$method $path: status $got, expected $want"; return; fi
    if [ $# -ge 4 ] && [ "$4" != "-" ] && [ "$(cat "$work/body"; echo x)" != "$4"x ]; then
        fail "$method $path: body '$(cat "$work/body")', expected '$4'"; return
    fi
    echo "  ok    $method $path -> $got"
}
# put PATH VALUE EXPECTED_STATUS
put() { printf '%s' "$2" > "$work/value"; check PUT "$1" "$3" "" "$work/value"; }

start_server

echo "-- single requests"
check GET /kv/greeting 404
put /kv/greeting "hello" 201
check GET /kv/greeting 200 "hello"
put /kv/greeting "hello, world" 204
check GET /kv/greeting 200 "hello, world"
put /kv/user:1 "Ada" 201
put /kv/user:2 "Blaise" 201
put /kv/users "not a user" 201
put /kv/other "x" 201
check GET "/kv?prefix=user:" 200 $'user:1\nuser:2\n'
check GET "/kv?prefix=user:&limit=1" 200 $'user:1\n'
check GET "/kv?prefix=user" 200 $'user:1\nuser:2\nusers\n'
check GET "/kv?prefix=nobody" 200 ""
check GET "/kv" 200 $'greeting\nother\nuser:1\nuser:2\nusers\n'
check GET "/kv?limit=-1" 400
check DELETE /kv/greeting 204
check GET /kv/greeting 404
check DELETE /kv/greeting 404
put "/kv/hello%20w%C3%B6rld" "spaces and UTF-8" 201
check GET "/kv/hello%20w%C3%B6rld" 200 "spaces and UTF-8"
check GET "/kv?prefix=hello%20" 200 $'hello w\xc3\xb6rld\n'
put /kv/empty "" 201
check GET /kv/empty 200 ""

echo "-- a binary value of 100,000 random bytes, and a body over the 1 MiB limit"
head -c 100000 /dev/urandom > "$work/binary"
check PUT /kv/binary 201 "" "$work/binary"
if curl -s --max-time 20 -o "$work/binary.back" "$base/kv/binary" && cmp -s "$work/binary" "$work/binary.back"; then
    echo "  ok    GET /kv/binary returns the same 100,000 bytes"
else
    fail "GET /kv/binary does not return the bytes stored"
fi
head -c $((1024 * 1024 + 1)) /dev/zero > "$work/toolarge"
check PUT /kv/toolarge 413 - "$work/toolarge"
check GET /kv/toolarge 404

echo "-- 8 concurrent clients, each 50 x (PUT a new key, GET it back, PUT a shared key)"
clients=8
rounds=50
pids=()
for c in $(seq 1 $clients); do
    (
        errors=0
        for i in $(seq 1 $rounds); do
            status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X PUT --data-binary "value-$c-$i" "$base/kv/c$c-$i") || status=curl
            [ "$status" = 201 ] || { echo "client $c: PUT c$c-$i -> $status"; errors=$((errors + 1)); }
            body=$(curl -s --max-time 20 "$base/kv/c$c-$i") || body=curl
            [ "$body" = "value-$c-$i" ] || { echo "client $c: GET c$c-$i -> '$body'"; errors=$((errors + 1)); }
            status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X PUT --data-binary "shared-$c-$i" "$base/kv/shared") || status=curl
            case $status in 201|204) ;; *) echo "client $c: PUT shared -> $status"; errors=$((errors + 1)) ;; esac
        done
        echo "$errors" > "$work/client-$c.errors"
    ) &
    pids+=($!)
done
wait "${pids[@]}"
for c in $(seq 1 $clients); do
    e=$(cat "$work/client-$c.errors" 2>/dev/null || echo missing)
    [ "$e" = 0 ] || fail "client $c: $e errors"
done
echo "  clients done"

# verify_all: every key the clients wrote, read back one by one, and the listing counts them all.
verify_all() {
    local bad=0 c i body
    for c in $(seq 1 $clients); do
        for i in $(seq 1 $rounds); do
            body=$(curl -s --max-time 20 "$base/kv/c$c-$i") || body=curl
            [ "$body" = "value-$c-$i" ] || { echo "  c$c-$i -> '$body'"; bad=$((bad + 1)); }
        done
    done
    [ "$bad" = 0 ] && echo "  ok    all $((clients * rounds)) values read back" || fail "$bad of $((clients * rounds)) values wrong"
    local listed
    listed=$(curl -s --max-time 20 "$base/kv?prefix=c" | grep -c '^c[0-9]*-[0-9]*$' || true)
    [ "$listed" = $((clients * rounds)) ] && echo "  ok    GET /kv?prefix=c lists $listed keys" || fail "GET /kv?prefix=c lists $listed keys, expected $((clients * rounds))"
    body=$(curl -s --max-time 20 "$base/kv/shared") || body=curl
    [[ "$body" =~ ^shared-[0-9]+-$rounds$ ]] && echo "  ok    shared = $body (some client's last write)" || fail "shared = '$body'"
}
verify_all

echo "-- graceful stop, then a restart on the same file"
stop_server
start_server
verify_all
check GET /kv/user:2 200 "Blaise"
check GET /kv/greeting 404
stop_server

if [ "$failures" -ne 0 ]; then
    echo "examples: $failures check(s) FAILED"; exit 1
fi
echo "examples: all checks passed"
