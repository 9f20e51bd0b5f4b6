#!/usr/bin/env bash
# End-to-end test of the Compose stack (make compose-test):
#
#  1. Docker: installs Debian's docker.io and docker-compose when missing (as
#     root), starts dockerd when none answers (its log in the artifacts
#     folder; falls back to --storage-driver=vfs and --iptables=false) and
#     stops it again at the end if it started it.
#  2. make images: the scratch images, nothing pulled.
#  3. The stack up under a project name of its own (iogotest<PID>), random
#     host ports on 127.0.0.1, a random broker password and token secret;
#     waits until every container is healthy.
#  4. Checks: the brokers demand credentials; iogo sim through both gates
#     (WebSocket, TCP, KCP) without one error.
#  5. Failover: stops (docker stop -t 0) the broker the first gate is
#     connected to while iogo sim runs through that gate. Each player may
#     lose what it had in flight on the dead node (-1000 "broker connection
#     lost", or a timeout for a request whose reply was on it), so at most
#     COMPOSE_TEST_MAX_FAILOVER_ERRORS (2 x players) may fail; a run after
#     the stop must have none. Then the broker is started again and must rejoin (healthy, with
#     its store) and a last run must have no error.
#  6. Always, also on failure or interruption: the logs into the artifacts
#     folder, then `down -v` (containers, network, volumes). Projects left by
#     an earlier run whose process is gone are removed first, so it is safe
#     to run again, also next to a running `iogo dev` or Compose stack.
#
# Settings (environment): COMPOSE_TEST_ARTIFACTS (folder for logs and sim
# reports; default a temporary one, kept), COMPOSE_TEST_UP_TIMEOUT (seconds
# for the stack to be healthy, 180), COMPOSE_TEST_PLAYERS (50, each at 20
# requests/s), COMPOSE_TEST_MAX_FAILOVER_ERRORS, COMPOSE_TEST_SKIP_IMAGES=1 (use existing images).
set -euo pipefail
cd "$(dirname "$0")/../.."

PROJECT=iogotest$$
FILE=deploy/compose/compose.yaml
ART=${COMPOSE_TEST_ARTIFACTS:-$(mktemp -d /tmp/iogo-compose-test.XXXXXX)}
UP_TIMEOUT=${COMPOSE_TEST_UP_TIMEOUT:-180}
PLAYERS=${COMPOSE_TEST_PLAYERS:-50}
MAX_FAILOVER_ERRORS=${COMPOSE_TEST_MAX_FAILOVER_ERRORS:-$((2 * PLAYERS))}
SERVICES=(broker-1 broker-2 broker-3 external-1 external-2 login guild rank demo)
mkdir -p "$ART"

T0=$SECONDS
STEP_START=$SECONDS
TIMINGS=$ART/timings.txt
: >"$TIMINGS"
log() { printf '[compose-test %3ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
step() { STEP_START=$SECONDS; log "== $*"; }
done_step() { printf '%-28s %4ds\n' "$1" $((SECONDS - STEP_START)) >>"$TIMINGS"; }

# ---------------------------------------------------------------- Docker

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

install_docker() {
	log "installing Debian's docker.io and docker-compose"
	as_root apt-get update -qq
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker.io docker-compose >"$ART/apt.log" 2>&1 ||
		{ cat "$ART/apt.log" >&2; fail "apt-get install docker.io docker-compose"; }
}

DOCKERD_PID=
start_dockerd() { # extra dockerd flags
	log "starting dockerd${*:+ $*} (log $ART/dockerd.log)"
	# setsid: a signal to this test's process group (Ctrl-C, timeout) must
	# not reach dockerd before the cleanup has taken the stack down.
	if [ "$(id -u)" = 0 ]; then
		setsid dockerd "$@" >>"$ART/dockerd.log" 2>&1 &
	else
		sudo -n setsid dockerd "$@" >>"$ART/dockerd.log" 2>&1 &
	fi
	DOCKERD_PID=$!
	local deadline=$((SECONDS + 60))
	while [ $SECONDS -lt $deadline ]; do
		docker info >/dev/null 2>&1 && return 0
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.5
	done
	log "dockerd $* did not come up; its log ends:"
	tail -5 "$ART/dockerd.log" >&2
	stop_dockerd
	return 1
}

stop_dockerd() {
	[ -n "$DOCKERD_PID" ] || return 0
	log "stopping the dockerd this test started (pid $DOCKERD_PID)"
	as_root kill "$DOCKERD_PID" 2>/dev/null || true
	local deadline=$((SECONDS + 30))
	while kill -0 "$DOCKERD_PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
	DOCKERD_PID=
}

ensure_docker() {
	command -v dockerd >/dev/null || install_docker
	if docker info >/dev/null 2>&1; then
		log "using the running Docker daemon"
	elif [ -f /var/run/docker.pid ] && as_root kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
		log "a dockerd runs but does not answer yet; waiting"
		local deadline=$((SECONDS + 60))
		until docker info >/dev/null 2>&1; do
			[ $SECONDS -lt $deadline ] || fail "the running dockerd does not answer"
			sleep 1
		done
	else
		# Plain first; then the fallbacks for machines without overlayfs or
		# iptables (nested containers, some sandboxes).
		start_dockerd ||
			start_dockerd --storage-driver=vfs ||
			start_dockerd --storage-driver=vfs --iptables=false ||
			fail "could not start dockerd (tried overlay2, vfs, vfs without iptables): see $ART/dockerd.log"
	fi
	if docker compose version >/dev/null 2>&1; then
		COMPOSE=(docker compose)
	else
		command -v docker-compose >/dev/null || install_docker
		COMPOSE=(docker-compose)
	fi
	log "$(docker version --format 'Docker client {{.Client.Version}}, server {{.Server.Version}}'), $("${COMPOSE[@]}" version 2>/dev/null | head -1)"
}

# ---------------------------------------------------------------- the stack

compose() { "${COMPOSE[@]}" -p "$PROJECT" -f "$FILE" "$@"; }

# container ID of a service of this project
cid() { docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1" | head -1; }

# host port published for a container port (e.g. 10100/tcp) of a service
host_port() { docker port "$(cid "$1")" "$2" | head -1 | sed 's/.*://'; }

health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$(cid "$1")" 2>/dev/null || echo missing; }

wait_healthy() { # timeout services...
	local deadline=$((SECONDS + $1)) s bad
	shift
	while :; do
		bad=()
		for s in "$@"; do [ "$(health "$s")" = healthy ] || bad+=("$s:$(health "$s")"); done
		[ ${#bad[@]} -eq 0 ] && return 0
		[ $SECONDS -lt $deadline ] || fail "not healthy in time: ${bad[*]}"
		sleep 1
	done
}

collect_logs() {
	[ -n "${COMPOSE:-}" ] || return 0
	compose ps >"$ART/ps.txt" 2>&1 || true
	compose logs --no-color --timestamps >"$ART/stack.log" 2>&1 || true
}

# Removes the projects of earlier runs whose test process is gone.
remove_stale() {
	local p pid
	for p in $(docker ps -a --format '{{.Label "com.docker.compose.project"}}' | grep -E '^iogotest[0-9]+$' | sort -u); do
		pid=${p#iogotest}
		[ "$pid" != $$ ] && kill -0 "$pid" 2>/dev/null && continue
		log "removing the stale project $p"
		"${COMPOSE[@]}" -p "$p" -f "$FILE" down -v --remove-orphans -t 1 >/dev/null 2>&1 || true
	done
	for p in $(docker volume ls -q | grep -E '^iogotest[0-9]+_' | sed 's/_.*//' | sort -u); do
		pid=${p#iogotest}
		[ "$pid" != $$ ] && kill -0 "$pid" 2>/dev/null && continue
		docker volume ls -q | grep "^${p}_" | xargs -r docker volume rm >/dev/null 2>&1 || true
	done
}

SIM_PIDS=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for p in "${SIM_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -n "${COMPOSE:-}" ] && docker info >/dev/null 2>&1; then
		collect_logs
		step "down -v (project $PROJECT)"
		compose down -v --remove-orphans -t 5 >"$ART/down.log" 2>&1 || { cat "$ART/down.log" >&2; rc=1; }
		left=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"; docker volume ls -q | grep "^${PROJECT}_" || true)
		[ -z "$left" ] || { log "left behind: $left"; rc=1; }
		done_step "down -v"
	fi
	stop_dockerd
	log "timings:"
	sed 's/^/    /' "$TIMINGS" >&2
	log "artifacts (logs, sim reports): $ART"
	if [ $rc -eq 0 ]; then log "PASS in $((SECONDS - T0))s"; else log "FAIL (exit $rc); stack logs in $ART/stack.log"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- checks

# sim NAME URL ARGS...: runs iogo sim, keeps its JSON report in $ART/NAME.json
# and prints "requests errors" (the report's top-level counts).
sim() {
	local name=$1 url=$2
	shift 2
	"$ART/iogo" sim -url "$url" -players "$PLAYERS" -ramp 1s -rate 20 -quiet -json "$@" >"$ART/$name.json" 2>"$ART/$name.err" || true
	local req errs
	req=$(grep -m1 '^  "requests":' "$ART/$name.json" | tr -dc 0-9)
	errs=$(grep -m1 '^  "errors":' "$ART/$name.json" | tr -dc 0-9)
	[ -n "$req" ] && [ -n "$errs" ] || { cat "$ART/$name.err" >&2; fail "sim $name gave no report"; }
	local p50 p99
	# the first quantiles in the report are those of the steady phase
	p50=$(grep -m1 '"p50_ms"' "$ART/$name.json" | sed 's/.*: *//; s/,//')
	p99=$(grep -m1 '"p99_ms"' "$ART/$name.json" | sed 's/.*: *//; s/,//')
	printf 'sim %-24s %6d req %4d err  p50 %sms p99 %sms\n' "$name" "$req" "$errs" "${p50:0:5}" "${p99:0:5}" >>"$TIMINGS"
	echo "$req $errs"
}

expect_no_errors() { # name url args...
	local r
	r=$(sim "$@")
	log "sim $1 ($2): requests/errors $r"
	[ "${r% *}" -gt 0 ] || fail "sim $1: no request went through"
	[ "${r#* }" -eq 0 ] || fail "sim $1: ${r#* } errors (report $ART/$1.json)"
}

# A broker must refuse clients without credentials: its INFO says so.
check_auth_required() {
	local port info
	port=$(host_port broker-1 4222/tcp)
	info=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; head -c 4096 <&3" 2>/dev/null | head -1 || true)
	case $info in
	*'"auth_required":true'*) log "broker-1 requires authentication" ;;
	*) fail "broker-1's INFO does not require authentication: ${info:0:200}" ;;
	esac
}

# ---------------------------------------------------------------- main

step "Docker"
ensure_docker
done_step "docker ready"

remove_stale

if [ "${COMPOSE_TEST_SKIP_IMAGES:-}" != 1 ]; then
	step "make images"
	make --no-print-directory images >"$ART/images.log" 2>&1 || { cat "$ART/images.log" >&2; fail "make images"; }
	done_step "make images"
fi

step "build iogo (sim)"
go build -o "$ART/iogo" ./cmd/iogo
done_step "build iogo"

# Random host ports on 127.0.0.1; our own credentials.
export IOGO_PUBLISH_HOST=127.0.0.1
for v in BROKER_1 BROKER_1_HTTP BROKER_2 BROKER_3 METRICS REDIS \
	EXTERNAL_1_WS EXTERNAL_1_TCP EXTERNAL_1_KCP EXTERNAL_2_WS EXTERNAL_2_TCP EXTERNAL_2_KCP; do
	export "IOGO_${v}_PORT="
done
IOGO_NATS_PASSWORD=test-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
IOGO_NATS_GATE_PASSWORD=test-gate-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
IOGO_NATS_LOGIC_PASSWORD=test-logic-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
IOGO_NATS_TOOL_PASSWORD=test-tool-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
IOGO_TOKEN_SECRET=test-token-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export IOGO_NATS_PASSWORD IOGO_NATS_GATE_PASSWORD IOGO_NATS_LOGIC_PASSWORD IOGO_NATS_TOOL_PASSWORD
export IOGO_TOKEN_SECRET IOGO_NATS_USER=iogo IOGO_IMAGE_PREFIX=iogo IOGO_TAG=local

step "up (project $PROJECT)"
compose up -d --no-build >"$ART/up.log" 2>&1 || { cat "$ART/up.log" >&2; collect_logs; fail "compose up"; }
wait_healthy "$UP_TIMEOUT" "${SERVICES[@]}"
done_step "stack up and healthy"
log "all ${#SERVICES[@]} containers healthy"

check_auth_required

WS1="ws://127.0.0.1:$(host_port external-1 10100/tcp)/websocket"
TCP1="tcp://127.0.0.1:$(host_port external-1 10200/tcp)"
KCP1="kcp://127.0.0.1:$(host_port external-1 10300/udp)"
WS2="ws://127.0.0.1:$(host_port external-2 10100/tcp)/websocket"
TCP2="tcp://127.0.0.1:$(host_port external-2 10200/tcp)"

step "sim through both gates"
expect_no_errors login-ws1 "$WS1" -scenario login -duration 5s
expect_no_errors echo-tcp2 "$TCP2" -scenario echo -duration 5s
expect_no_errors login-ws2 "$WS2" -scenario login -duration 3s
expect_no_errors echo-tcp1 "$TCP1" -scenario echo -duration 3s
expect_no_errors echo-kcp1 "$KCP1" -scenario echo -duration 3s -players 10
done_step "sim, all gates"

# The broker the first gate is connected to (its last "broker connected" log line).
victim=$(docker logs "$(cid external-1)" 2>&1 | sed -n 's/.*msg="broker connected".*url=nats:\/\/\(broker-[0-9]\):.*/\1/p' | tail -1)
[ -n "$victim" ] || victim=broker-1
step "failover: stop $victim under load through external-1"
sim failover "$WS1" -scenario login -duration 15s >"$ART/failover.counts" &
SIM_PIDS+=($!)
sleep 5
docker stop -t 0 "$(cid "$victim")" >/dev/null
log "$victim stopped"
wait "${SIM_PIDS[0]}" || fail "failover sim"
SIM_PIDS=()
read -r req errs <"$ART/failover.counts"
log "failover: $req requests, $errs errors while $victim stopped"
[ "$req" -gt 0 ] || fail "failover: no request went through"
log "failover errors by code: $(tr -d ' \n' <"$ART/failover.json" | sed -n 's/.*"errors_by_code":\({[^}]*}\).*/\1/p')"
[ "$errs" -le "$MAX_FAILOVER_ERRORS" ] ||
	fail "failover: $errs of $req requests failed, more than $MAX_FAILOVER_ERRORS (2 per player)"
expect_no_errors after-stop-ws1 "$WS1" -scenario login -duration 5s
expect_no_errors after-stop-tcp2 "$TCP2" -scenario echo -duration 3s
done_step "failover"

step "restart $victim"
docker start "$(cid "$victim")" >/dev/null
wait_healthy 120 "$victim"
done_step "broker rejoined"
expect_no_errors after-rejoin-ws2 "$WS2" -scenario login -duration 3s
log "all checks passed"
