#!/usr/bin/env bash
# make bench-pdp: authd's policy decision point beside OPA's own server
# (`opa run --server`) evaluating the same policy (rego/access) over the
# same facts, driven by the same load generator in the same run; then
# authd's decision latency as the registration store grows.
#
# Everything listens on 127.0.0.1 only; every load run is bounded in time
# and in requests. Both servers are stopped on exit, whatever happens.
#
# Environment (defaults in brackets):
#   CONCURRENCY [32]  DURATION [10s]  WARMUP [2s]  ROUNDS [2]  BATCH [10]
#                     side by side: rounds alternate authd, opa, authd, opa,
#                     single evaluations and batches of BATCH
#   PATIENTS [10000]  RELATIONSHIPS [40000]  SESSIONS [48]  REQUESTS [20000]
#                     the side-by-side world
#   COMPARE_LIMIT [5000]  requests checked for identical decisions first
#   SCALE_CONCURRENCY [4]  SCALE_DURATION [10s]  RELS_PER_PATIENT [4]
#   RELS_MAX [1000000]  latency-vs-relationships worlds: 10^4, 10^6, and
#                     10^7 with RELS_MAX=10000000 (adds ~5-10 minutes and
#                     ~3 GB of disk); SCALE=0 skips this part
#   STORES [sqlite]   registration stores of the latency worlds: sqlite,
#                     postgres, or "sqlite postgres" (each size on both,
#                     in the same run)
#   SCALE_RELS [10000 1000000 10000000]  the latency worlds' sizes (those
#                     above RELS_MAX are skipped)
#   COMPARE [1]       0 skips the side-by-side part (authd beside opa)
#   PG_DSN [postgres://postgres@127.0.0.1:5432/test?sslmode=disable]
#                     the PostgreSQL server for STORES=postgres: each world
#                     gets a schema of its own (pdpbench_<size>_<pid>),
#                     dropped after its run unless KEEP=1; authd reads the
#                     DSN from the environment (store.postgres.dsn_env)
#   QUIET_WAIT [0]    seconds to wait, before each part, for other
#                     processes to use less than a quarter of a CPU
#   AUTHD_PORT [18443]  OPA_PORT [18181]
#   WORK [a new /tmp/pdpbench.XXXXXX]  KEEP [0]: 1 keeps the worlds
#                     (databases, session tokens) after the run
#
# The machine running this also runs both servers: the load generator
# takes CPU from whichever server it drives (the report says how much).
set -euo pipefail
umask 077

cd "$(dirname "$0")/../.."
ROOT=$PWD
GO=${GO:-go}

CONCURRENCY=${CONCURRENCY:-32}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-2}
BATCH=${BATCH:-10}
PATIENTS=${PATIENTS:-10000}
RELATIONSHIPS=${RELATIONSHIPS:-40000}
SESSIONS=${SESSIONS:-48}
REQUESTS=${REQUESTS:-20000}
COMPARE_LIMIT=${COMPARE_LIMIT:-5000}
SCALE=${SCALE:-1}
SCALE_CONCURRENCY=${SCALE_CONCURRENCY:-4}
SCALE_DURATION=${SCALE_DURATION:-10s}
RELS_PER_PATIENT=${RELS_PER_PATIENT:-4}
RELS_MAX=${RELS_MAX:-1000000}
AUTHD_PORT=${AUTHD_PORT:-18443}
OPA_PORT=${OPA_PORT:-18181}
KEEP=${KEEP:-0}
QUIET_WAIT=${QUIET_WAIT:-0}
STORES=${STORES:-sqlite}
SCALE_RELS=${SCALE_RELS:-10000 1000000 10000000}
COMPARE=${COMPARE:-1}
PG_DSN=${PG_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
PG_SCHEMAS=()
WORK=${WORK:-$(mktemp -d /tmp/pdpbench.XXXXXX)}
mkdir -p "$WORK/bin" "$WORK/results"
chmod 700 "$WORK"

AUTHD_PID=
OPA_PID=

log() { printf '\n== %s\n' "$*" >&2; }
pg() { PGOPTIONS='-c client_min_messages=warning' psql "$PG_DSN" -qAtc "$1"; } # pg SQL: one statement on PG_DSN
die() { printf 'bench-pdp: %s\n' "$*" >&2; exit 1; }

stop_pid() { # stop_pid PID: TERM, wait up to 15 s, then KILL; only our own children
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

stop_authd() { stop_pid "$AUTHD_PID"; AUTHD_PID=; }
stop_opa() { stop_pid "$OPA_PID"; OPA_PID=; }

cleanup() {
	local rc=$?
	stop_authd
	stop_opa
	if [ "$KEEP" != 1 ]; then
		for schema in "${PG_SCHEMAS[@]}"; do
			pg "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
		done
	fi
	if [ "$KEEP" != 1 ]; then
		# The worlds hold databases and live session tokens; the results
		# and the report stay.
		rm -rf "$WORK"/world-* "$WORK/certs" "$WORK/bin"
	fi
	if [ $rc -ne 0 ]; then
		echo "bench-pdp: failed (exit $rc); logs in $WORK/world-*/ (KEEP=1 keeps them)" >&2
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_free "$AUTHD_PORT" || die "port $AUTHD_PORT is in use (set AUTHD_PORT)"
port_free "$OPA_PORT" || die "port $OPA_PORT is in use (set OPA_PORT)"

log "building authd and pdpbench"
$GO build -o "$WORK/bin/authd" ./cmd/authd
$GO build -o "$WORK/bin/pdpbench" ./scripts/pdpbench
PB="$WORK/bin/pdpbench"

OPA_VERSION=$($GO list -m -f '{{.Version}}' github.com/open-policy-agent/opa)
OPA="$ROOT/.cache/bin/opa"
opa_version() { [ -x "$OPA" ] && "$OPA" version 2>/dev/null | awk '$1 == "Version:" {print "v" $2}'; }
if [ "$(opa_version || true)" != "$OPA_VERSION" ]; then
	log "installing opa $OPA_VERSION (the version go.mod uses) into .cache/bin"
	GOBIN="$ROOT/.cache/bin" $GO install "github.com/open-policy-agent/opa@$OPA_VERSION"
fi
[ "$(opa_version)" = "$OPA_VERSION" ] || die "$OPA is not opa $OPA_VERSION"
echo "opa $OPA_VERSION" >&2

CERTS="$WORK/certs"
"$PB" certs --dir "$CERTS" >&2
TLSFLAGS=(--ca "$CERTS/ca.pem" --cert "$CERTS/client.pem" --key "$CERTS/client.key")
AUTHD_URL="https://127.0.0.1:$AUTHD_PORT"
OPA_URL="https://127.0.0.1:$OPA_PORT"
PKI="$ROOT/testkeys/pki"

# store_yaml STORE DIR: the store section for a world in DIR.
store_yaml() {
	if [ "$1" = postgres ]; then
		printf 'store:\n  driver: postgres\n  postgres:\n    dsn_env: PDPBENCH_PG_DSN\n'
	else
		printf 'store:\n  path: %s\n' "$2/authd.db"
	fi
}

# write_config DIR [STORE]: authd's configuration for the world in DIR (as
# the rig in authd/server/rig_test.go, plus TLS and the PDP's client CAs).
write_config() {
	local dir=$1 store=${2:-sqlite}
	cat >"$dir/authd.yaml" <<EOF
listen: 127.0.0.1:$AUTHD_PORT
audience: $AUTHD_URL
tls:
  cert_file: $CERTS/server.pem
  key_file: $CERTS/server.key
$(store_yaml "$store" "$dir")
sessions:
  backend: memory
  idle_timeout: 2h
log:
  level: warn
  format: json
pki:
  roots: [$PKI/root.pem]
  intermediates: [$PKI/subca.pem]
  crls: [$PKI/root.crl, $PKI/auth.crl]
  revocation:
    mode: hard-fail
    network: false
  login:
    key_usage: [digitalSignature]
    ext_key_usage: [1.3.6.1.5.5.7.3.2]
    required_policies: [1.3.6.1.4.1.58888.1.1.1]
pdp:
  client_cas: [$CERTS/ca.pem]
  decision_log: $dir/decisions.db
EOF
	chmod 600 "$dir/authd.yaml"
}

start_authd() { # start_authd DIR [STORE]
	local dir=$1
	write_config "$dir" "${2:-sqlite}"
	"$WORK/bin/authd" serve --config "$dir/authd.yaml" >"$dir/authd.log" 2>&1 &
	AUTHD_PID=$!
	"$PB" wait --url "$AUTHD_URL/readyz" --timeout 120s "${TLSFLAGS[@]}" >&2 ||
		{ tail -20 "$dir/authd.log" >&2; die "authd did not start"; }
}

start_opa() { # start_opa DIR
	local dir=$1
	"$OPA" run --server --addr "127.0.0.1:$OPA_PORT" --log-level error --skip-version-check \
		--tls-cert-file "$CERTS/server.pem" --tls-private-key-file "$CERTS/server.key" \
		--tls-ca-cert-file "$CERTS/ca.pem" --authentication tls \
		--ignore '*_test.rego' \
		scripts/pdpbench/opa/authzen.rego rego/access "$dir/opa/facts.json" >"$dir/opa.log" 2>&1 &
	OPA_PID=$!
	"$PB" wait --url "$OPA_URL/health" --timeout 120s "${TLSFLAGS[@]}" >&2 ||
		{ tail -20 "$dir/opa.log" >&2; die "opa did not start"; }
}

# load NAME URL MODE PID [flags...]: one bounded run, its JSON kept.
load() {
	local name=$1 url=$2 mode=$3 pid=$4
	shift 4
	"$PB" load --url "$url" --mode "$mode" --server-pid "$pid" --json \
		--max-requests 5000000 "${TLSFLAGS[@]}" "$@" >"$WORK/results/$name.json"
	"$PB" report "$WORK/results/$name.json" >/dev/null # fails on a malformed result
	tr -d ',' <"$WORK/results/$name.json" | awk -v name="$name" -F': ' '
		/"decisions_per_s"/ {d = $2} /"p50_ms"/ {p = $2} /"p99_ms"/ {q = $2} /"errors"/ && e == "" {e = $2}
		END {printf "   %-24s %8.0f decisions/s  p50 %7.3f ms  p99 %7.3f ms  errors %s\n", name, d, p, q, e}' >&2
}

# busy_cpus: CPUs busy over the next 3 seconds, all processes (/proc/stat).
busy_cpus() {
	local a b
	a=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9}' /proc/stat)
	sleep 3
	b=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9}' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", (b - a) / 300}'
}

# wait_quiet: on a shared machine, wait up to QUIET_WAIT seconds for other
# work to calm down (our own servers are idle between runs).
wait_quiet() {
	local deadline=$((SECONDS + QUIET_WAIT)) busy
	while :; do
		busy=$(busy_cpus)
		if awk -v b="$busy" 'BEGIN {exit !(b < 0.25)}' || [ $SECONDS -ge $deadline ]; then
			echo "machine: $(nproc) CPUs, $busy busy before this part, loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >&2
			return
		fi
		sleep 5
	done
}

printf 'machine: %s CPUs shared by the load generator, authd and opa\n' "$(nproc)" >&2

# --- Side by side ---------------------------------------------------------
if [ "$COMPARE" = 1 ]; then
CMP="$WORK/world-compare"
mkdir -p "$CMP"
log "world: $PATIENTS patients, $RELATIONSHIPS relationships"
"$PB" setup --stage db --dir "$CMP" --pki "$PKI" --patients "$PATIENTS" --relationships "$RELATIONSHIPS" >&2
start_authd "$CMP"
"$PB" setup --stage sessions --dir "$CMP" --pki "$PKI" --authd "$AUTHD_URL" "${TLSFLAGS[@]}" \
	--sessions "$SESSIONS" --requests "$REQUESTS" >&2
start_opa "$CMP"

log "checking that authd and opa decide alike"
"$PB" compare --authd "$AUTHD_URL" --opa "$OPA_URL" --requests-file "$CMP/requests.jsonl" \
	--limit "$COMPARE_LIMIT" "${TLSFLAGS[@]}" >&2

log "load: concurrency $CONCURRENCY, $DURATION after $WARMUP warm-up, $ROUNDS rounds each"
wait_quiet
for b in 0 "$BATCH"; do
	kind=single
	[ "$b" = 0 ] || kind="batch$b"
	for r in $(seq "$ROUNDS"); do
		common=(--concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" --batch "$b"
			--requests-file "$CMP/requests.jsonl" --tag group=compare)
		load "cmp-$kind-$r-authd" "$AUTHD_URL" authzen "$AUTHD_PID" --label authd "${common[@]}"
		load "cmp-$kind-$r-opa" "$OPA_URL" opa "$OPA_PID" --label opa "${common[@]}"
	done
done
stop_opa
stop_authd
fi

# --- Latency vs relationships ---------------------------------------------
if [ "$SCALE" = 1 ]; then
	for rels in $SCALE_RELS; do
		[ "$rels" -le "$RELS_MAX" ] || continue
		patients=$((rels / RELS_PER_PATIENT))
		for store in $STORES; do
		dir="$WORK/world-rels-$rels-$store"
		mkdir -p "$dir"
		pgflags=()
		if [ "$store" = postgres ]; then
			schema="pdpbench_${rels}_$$"
			PG_SCHEMAS+=("$schema")
			pg "CREATE SCHEMA $schema" >/dev/null
			case "$PG_DSN" in
			*\?*) PDPBENCH_PG_DSN="$PG_DSN&search_path=$schema" ;;
			*) PDPBENCH_PG_DSN="$PG_DSN?search_path=$schema" ;;
			esac
			export PDPBENCH_PG_DSN
			pgflags=(--postgres-dsn-env PDPBENCH_PG_DSN)
		fi
		log "latency world: $rels relationships over $patients patients, $store store"
		"$PB" setup --stage db --dir "$dir" --pki "$PKI" --patients "$patients" --relationships "$rels" "${pgflags[@]}" >&2
		start_authd "$dir" "$store"
		"$PB" setup --stage sessions --dir "$dir" --pki "$PKI" --authd "$AUTHD_URL" "${TLSFLAGS[@]}" \
			--sessions "$SESSIONS" --requests "$REQUESTS" --opa-data=false "${pgflags[@]}" >&2
		wait_quiet
		load "scale-$rels-$store" "$AUTHD_URL" authzen "$AUTHD_PID" --label authd \
			--concurrency "$SCALE_CONCURRENCY" --duration "$SCALE_DURATION" --warmup "$WARMUP" \
			--requests-file "$dir/requests.jsonl" --tag "group=scale,relationships=$rels,patients=$patients,store=$store"
		stop_authd
		if [ "$store" = postgres ]; then
			pg "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) || ' in schema $schema'
				FROM pg_class c WHERE c.relnamespace = '$schema'::regnamespace AND c.relkind = 'r'" >&2
			if [ "$KEEP" != 1 ]; then
				pg "DROP SCHEMA $schema CASCADE" >/dev/null
			fi
		else
			du -sh "$dir/authd.db" >&2
		fi
		[ "$KEEP" = 1 ] || rm -rf "$dir"
		done
	done
fi

log "report"
"$PB" report "$WORK"/results/*.json | tee "$WORK/report.md"
echo
echo "results: $WORK/results/*.json, report: $WORK/report.md" >&2
