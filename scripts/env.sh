# Shared settings for binlake's scripts; sourced, never run.
# Every value can be overridden from the environment.

BINLAKE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BINLAKE_ROOT
export BINLAKE_CACHE=${BINLAKE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/binlake}
# Builds live outside the clone so a fresh checkout reuses them.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$BINLAKE_CACHE/target}
export BINLAKE_DATA=${BINLAKE_DATA:-$BINLAKE_ROOT/.data}
export BINLAKE_BIN=${BINLAKE_BIN:-$CARGO_TARGET_DIR/debug/binlake}
export TANSU_BIN=${TANSU_BIN:-$BINLAKE_CACHE/tools/bin/tansu}
# The Kafka-protocol broker the tests, benches and demo run against:
# nisshi 0.8.1 storing batches in a private PostgreSQL (the default; about
# twice tansu's rate here, bench/README "nisshi instead of tansu"), or
# tansu 0.6 with sqlite storage, its predecessor, for a machine whose Rust
# cannot build nisshi (it needs rustc 1.96).
export BINLAKE_BROKER=${BINLAKE_BROKER:-nisshi}
export NISSHI_BIN=${NISSHI_BIN:-$BINLAKE_CACHE/tools/bin/nisshi}

export BINLAKE_MYSQL_PORT=${BINLAKE_MYSQL_PORT:-3307}
export BINLAKE_KAFKA_PORT=${BINLAKE_KAFKA_PORT:-9092}
# nisshi's PostgreSQL (only with BINLAKE_BROKER=nisshi).
export BINLAKE_KAFKA_PG_PORT=${BINLAKE_KAFKA_PG_PORT:-5433}
export BINLAKE_REGISTRY_PORT=${BINLAKE_REGISTRY_PORT:-8081}
# Object stores for the lake tests: moto's S3 server and Azurite's blob
# service (the well-known devstoreaccount1 account).
export BINLAKE_S3_PORT=${BINLAKE_S3_PORT:-9000}
export BINLAKE_AZURITE_PORT=${BINLAKE_AZURITE_PORT:-10000}
export AZURITE_DIR=${AZURITE_DIR:-$BINLAKE_CACHE/tools/azurite}
# The replication user binlake connects as, and an administrative user for
# tests and the demo; both exist only in the private test server.
export BINLAKE_MYSQL_PASSWORD=${BINLAKE_MYSQL_PASSWORD:-cdc-secret}
export BINLAKE_ADMIN_PASSWORD=${BINLAKE_ADMIN_PASSWORD:-admin-secret}
# The test server's CA, certificate and key (created by servers.sh).
export BINLAKE_MYSQL_TLS_DIR=${BINLAKE_MYSQL_TLS_DIR:-$BINLAKE_DATA/tls}
export BINLAKE_TEST_MYSQL_URL=${BINLAKE_TEST_MYSQL_URL:-mysql://binlake_admin:$BINLAKE_ADMIN_PASSWORD@127.0.0.1:$BINLAKE_MYSQL_PORT}
export BINLAKE_TEST_BROKERS=${BINLAKE_TEST_BROKERS:-127.0.0.1:$BINLAKE_KAFKA_PORT}
export BINLAKE_TEST_REGISTRY=${BINLAKE_TEST_REGISTRY:-http://127.0.0.1:$BINLAKE_REGISTRY_PORT}
export BINLAKE_TEST_S3_ENDPOINT=${BINLAKE_TEST_S3_ENDPOINT:-http://127.0.0.1:$BINLAKE_S3_PORT}
export BINLAKE_TEST_AZURITE_ENDPOINT=${BINLAKE_TEST_AZURITE_ENDPOINT:-http://127.0.0.1:$BINLAKE_AZURITE_PORT/devstoreaccount1}

RUN_DIR=$BINLAKE_DATA/run
LOG_DIR=$BINLAKE_DATA/log

log() { printf '[binlake %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Waits until a TCP port on 127.0.0.1 accepts connections, giving up early
# when the server's process (pid file) has died.
wait_port() {
    local port=$1 what=$2 pidfile=${3:-}
    for _ in $(seq 120); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        if [ -n "$pidfile" ] && ! pid_alive "$pidfile"; then
            die "$what exited during start; see $LOG_DIR"
        fi
        sleep 0.5
    done
    die "$what did not open port $port; see $LOG_DIR"
}

# Fails fast when something else already listens where a server should start.
ensure_port_free() {
    local port=$1 what=$2
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is taken by another process; stop it or choose another port for $what (see scripts/env.sh)"
    fi
}

# The administrative SQL client on the private server.
admin_sql() {
    mariadb --no-defaults -h127.0.0.1 -P"$BINLAKE_MYSQL_PORT" -ubinlake_admin \
        -p"$BINLAKE_ADMIN_PASSWORD" --default-character-set=utf8mb4 "$@"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
