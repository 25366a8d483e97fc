#!/usr/bin/env bash
# DocumentDB (PostgreSQL extensions + the gateway that speaks the MongoDB wire protocol): the
# MongoDB-compatible server the MongoDB suites and benchmarks run on.
#
#   scripts/documentdb.sh install      builds and installs it once per pinned version (idempotent)
#   scripts/documentdb.sh start DIR    starts the server whose data lives in DIR (a new one when
#                                      DIR is empty or missing; the same data on the same port when
#                                      DIR holds one); the last line of stdout is its mongodb:// URI
#   scripts/documentdb.sh stop DIR     stops exactly that server; its data stays
#   scripts/documentdb.sh uri DIR      prints the URI of the server in DIR (running or not)
#
# Sources: ../shared/vendor/ beside the repository (or $ORGSVC_VENDOR_DIR) when it is there, each
# archive checked against its SHA-256; otherwise the same upstream commits are cloned with git,
# whose object ids are the check. The build lives in $ORGSVC_TOOLS_DIR (default
# ~/.cache/orgsvc)/documentdb-<commit>; the extensions are installed into Debian's PostgreSQL 15.
#
# PostgreSQL refuses to run as root, so as root it runs as the `postgres` user. It listens on a
# Unix socket inside DIR only; the gateway on 127.0.0.1 only.
set -euo pipefail

DOCUMENTDB_COMMIT="b2e220c47d85ec6fed1651f03968da2317f71c10"
DOCUMENTDB_SHA256="e8a540f4520263ceb0726b7a86ec9ac11b26322776993cc0f14dbfefddb2378c"
PGVECTOR_TAG="v0.8.0"
PGVECTOR_COMMIT="2627c5ff775ae6d7aef0c430121ccf857842d2f2"
PGVECTOR_SHA256="f735d37c1f8a32a0c46f29db63860bdc1ed06a423d4280767afbd38f1fe58778"
PGCRON_TAG="v1.6.3"
PGCRON_COMMIT="9d0576c64edd90fb3d8ac30763296a8106315638"
PGCRON_SHA256="105b669241ea200f0e9a5ffbc2c4e8c33b0dfaba2b13e06cdb4621382b7995d5"
PATCH_SHA256="0fcd4e28da1c4b53d6f2dcfa46846246af10238f53cb4eb7f0d3927078c0e45b"
PATCH_NAME="documentdb-0001-debian12-libbson-1.23.patch"

PG_MAJOR=15
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
PACKAGES=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-$PG_MAJOR-postgis-3
    postgresql-$PG_MAJOR-rum libbson-dev libpcre2-dev libintelrdfpmath-dev libicu-dev libkrb5-dev
    libssl-dev build-essential pkg-config git openssl ca-certificates)

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="${ORGSVC_VENDOR_DIR:-$REPO/../shared/vendor}"
TOOLS="${ORGSVC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orgsvc}"
BUILD="$TOOLS/documentdb-${DOCUMENTDB_COMMIT:0:8}"
GATEWAY="$BUILD/bin/documentdb_gateway"
DB_USER="orgsvc"

say() { echo "documentdb.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# install

installed() {
    local lib
    lib="$("$PG_BIN/pg_config" --pkglibdir 2>/dev/null)" || return 1
    [ -x "$GATEWAY" ] && [ -f "$BUILD/installed" ] &&
        [ -f "$lib/pg_documentdb.so" ] && [ -f "$lib/pg_documentdb_core.so" ] &&
        [ -f "$lib/vector.so" ] && [ -f "$lib/pg_cron.so" ] &&
        [ "$(cat "$BUILD/installed")" = "$(stamp)" ]
}

stamp() { echo "$DOCUMENTDB_COMMIT $PGVECTOR_COMMIT $PGCRON_COMMIT $PATCH_SHA256"; }

install_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    # Debian's pg_cron 1.4 makes CREATE EXTENSION documentdb fail (schedules in seconds need 1.5).
    if dpkg-query -W -f='${Status}' "postgresql-$PG_MAJOR-cron" 2>/dev/null | grep -q "install ok installed"; then
        [ "$(id -u)" = 0 ] || die "remove postgresql-$PG_MAJOR-cron (too old), as root"
        DEBIAN_FRONTEND=noninteractive apt-get remove -y "postgresql-$PG_MAJOR-cron" >&2
    fi
    [ ${#missing[@]} -eq 0 ] && return
    [ "$(id -u)" = 0 ] || die "these Debian packages are needed (run as root to install them): ${missing[*]}"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
        { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
}

# Unpacks NAME's vendored archive into DEST after checking its SHA-256, or clones the upstream
# commit when there is no vendor folder.
fetch_source() {
    local name=$1 archive=$2 sha=$3 url=$4 commit=$5 dest=$6
    rm -rf "$dest"
    mkdir -p "$dest"
    if [ -f "$VENDOR/$archive" ]; then
        echo "$sha  $VENDOR/$archive" | sha256sum -c --quiet - >&2 ||
            die "$VENDOR/$archive does not have the pinned SHA-256"
        tar -xzf "$VENDOR/$archive" -C "$dest" --strip-components=1
    else
        say "no $VENDOR/$archive: cloning $name at $commit"
        git clone --quiet "$url" "$dest" >&2
        git -C "$dest" -c advice.detachedHead=false checkout --quiet "$commit"
        [ "$(git -C "$dest" rev-parse HEAD)" = "$commit" ] || die "$name is not at $commit"
    fi
}

# libintelrdfpmath-dev installs no pkg-config file, and DocumentDB's build asks pkg-config for it.
intelmath_pc() {
    mkdir -p "$BUILD/pkgconfig"
    cat >"$BUILD/pkgconfig/intelmathlib.pc" <<'EOF'
Name: intelmathlib
Description: Intel decimal floating-point math library (Debian's libintelrdfpmath-dev)
Version: 2.0
Cflags: -I/usr/include
Libs: -lbidgcc000
EOF
}

install() {
    exec 9>"$TOOLS/documentdb.lock" 2>/dev/null || { mkdir -p "$TOOLS"; exec 9>"$TOOLS/documentdb.lock"; }
    flock 9
    if installed; then
        echo "$GATEWAY"
        return
    fi
    install_packages
    command -v cargo >/dev/null || die "cargo (rustup's toolchain) is needed to build the gateway"
    say "building DocumentDB ${DOCUMENTDB_COMMIT:0:8}, pgvector $PGVECTOR_TAG, pg_cron $PGCRON_TAG (once; a few minutes)"
    mkdir -p "$BUILD"
    rm -f "$BUILD/installed"
    local src="$BUILD/src" jobs
    jobs="$(nproc)"
    export PG_CONFIG="$PG_BIN/pg_config" PATH="$PG_BIN:$PATH"

    fetch_source pgvector "pgvector-${PGVECTOR_TAG#v}.tar.gz" "$PGVECTOR_SHA256" \
        https://github.com/pgvector/pgvector.git "$PGVECTOR_COMMIT" "$src/pgvector"
    # OPTFLAGS="": no -march=native, so the build runs on another CPU too.
    make -C "$src/pgvector" -j"$jobs" OPTFLAGS="" >&2
    make -C "$src/pgvector" OPTFLAGS="" install >&2

    fetch_source pg_cron "pg_cron-${PGCRON_TAG#v}.tar.gz" "$PGCRON_SHA256" \
        https://github.com/citusdata/pg_cron.git "$PGCRON_COMMIT" "$src/pg_cron"
    make -C "$src/pg_cron" -j"$jobs" >&2
    make -C "$src/pg_cron" install >&2

    fetch_source documentdb "documentdb-${DOCUMENTDB_COMMIT:0:8}.tar.gz" "$DOCUMENTDB_SHA256" \
        https://github.com/microsoft/documentdb.git "$DOCUMENTDB_COMMIT" "$src/documentdb"
    local patch="$VENDOR/$PATCH_NAME"
    [ -f "$patch" ] || patch="$REPO/scripts/lib/$PATCH_NAME"
    echo "$PATCH_SHA256  $patch" | sha256sum -c --quiet - >&2 || die "$patch does not have the pinned SHA-256"
    (cd "$src/documentdb" && patch -p1 --quiet <"$patch")
    intelmath_pc
    # with_llvm=no: no JIT bitcode, which doubles the compile time for nothing a test uses.
    local dir
    for dir in pg_documentdb_core pg_documentdb; do
        PKG_CONFIG_PATH="$BUILD/pkgconfig" make -C "$src/documentdb/$dir" -j"$jobs" with_llvm=no >&2
        PKG_CONFIG_PATH="$BUILD/pkgconfig" make -C "$src/documentdb/$dir" with_llvm=no install >&2
    done

    say "building the gateway (cargo build --release --locked)"
    (cd "$src/documentdb/pg_documentdb_gw" &&
        CARGO_TARGET_DIR="$BUILD/gateway-target" cargo build --release --locked --quiet >&2)
    mkdir -p "$BUILD/bin"
    cp "$BUILD/gateway-target/release/documentdb_gateway" "$GATEWAY.tmp"
    mv "$GATEWAY.tmp" "$GATEWAY"
    rm -rf "$BUILD/gateway-target" "$src"
    stamp >"$BUILD/installed"
    installed || die "the build finished but the installed files are not all there"
    echo "$GATEWAY"
}

# ---------------------------------------------------------------------------------------------
# start / stop

# Runs a command as the user the servers run as.
as_server() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# The operating-system user PostgreSQL runs as, which initdb makes its superuser role.
server_user() { if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

alive() { [ -f "$1" ] && kill -0 "$(head -n 1 "$1")" 2>/dev/null; }

uri() {
    local dir=$1
    # shellcheck disable=SC1091
    . "$dir/server.env"
    echo "mongodb://$DB_USER:$DB_PASSWORD@127.0.0.1:$GATEWAY_PORT/?authMechanism=SCRAM-SHA-256&directConnection=true"
}

psql_admin() {
    as_server env PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR/run" -p "$PG_PORT" -d postgres "$@"
}

# A throw-away CA and a server certificate signed by it: the gateway wants a certificate even
# when TLS is optional, and rustls refuses a self-signed one presented as the server's own.
make_certificates() {
    local tls="$DIR/tls"
    mkdir -p "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=orgsvc test CA" \
        -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tls/ext.cnf"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
        -days 3650 -extfile "$tls/ext.cnf" -out "$tls/server.pem" 2>/dev/null
}

init_server() {
    say "initializing a new server in $DIR"
    mkdir -p "$DIR/run"
    local password
    password="$(openssl rand -hex 16)"
    cat >"$DIR/server.env" <<EOF
PG_PORT=$(free_port)
GATEWAY_PORT=$(free_port)
DB_PASSWORD=$password
EOF
    # shellcheck disable=SC1091
    . "$DIR/server.env"
    make_certificates
    cat >"$DIR/gateway.json" <<EOF
{
  "NodeHostName": "localhost",
  "BlockedRolePrefixes": [],
  "PostgresSystemUser": "$(server_user)",
  "PostgresHostName": "$DIR/run",
  "PostgresPort": $PG_PORT,
  "GatewayListenPort": $GATEWAY_PORT,
  "UseLocalHost": true,
  "EnforceSslTcp": false,
  "TransactionTimeoutSecs": 30,
  "CursorTimeoutSecs": 600,
  "PostgresCommandTimeoutSecs": 120,
  "CertificateOptions": {
    "CertType": "pem_file",
    "FilePath": "$DIR/tls/server.pem",
    "KeyFilePath": "$DIR/tls/server.key",
    "CaPath": "$DIR/tls/ca.pem"
  }
}
EOF
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres: "$DIR"
        as_server test -w "$DIR" || die "the postgres user cannot reach $DIR (a parent directory is closed to it)"
    fi
    # Trust on the socket alone: the socket directory is the server user's, mode 0700.
    as_server "$PG_BIN/initdb" -D "$DIR/pgdata" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 ||
        { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    cat >>"$DIR/pgdata/postgresql.conf" <<EOF

# orgsvc: DocumentDB on a private socket, no TCP listener of its own
listen_addresses = ''
port = $PG_PORT
unix_socket_directories = '$DIR/run'
unix_socket_permissions = 0700
max_connections = 300
shared_preload_libraries = 'pg_cron, pg_documentdb_core, pg_documentdb'
cron.database_name = 'postgres'
cron.host = '$DIR/run'
documentdb.enableBackgroundWorker = true
documentdb.enableBackgroundWorkerJobs = true
documentdb.localhost_connection_string = 'host=$DIR/run port=$PG_PORT'
EOF
}

start_postgres() {
    alive "$DIR/pgdata/postmaster.pid" && return
    as_server "$PG_BIN/pg_ctl" -D "$DIR/pgdata" -l "$DIR/postgres.log" -w -t 120 start >/dev/null ||
        { tail -n 30 "$DIR/postgres.log" >&2; die "PostgreSQL did not start"; }
}

setup_extension() {
    psql_admin -c "CREATE EXTENSION IF NOT EXISTS documentdb CASCADE" >/dev/null
    psql_admin >/dev/null <<EOF
CREATE ROLE "$DB_USER" WITH LOGIN INHERIT CREATEROLE PASSWORD '$DB_PASSWORD' IN ROLE documentdb_admin_role;
EOF
    touch "$DIR/initialized"
}

start_gateway() {
    if alive "$DIR/gateway.pid"; then
        return
    fi
    port_open "$GATEWAY_PORT" && die "port $GATEWAY_PORT of $DIR's gateway is taken by another process"
    [ -x "$GATEWAY" ] || die "the gateway is not installed: run $0 install"
    # setsid: the gateway is nobody's child once this script exits, as PostgreSQL is. It runs as
    # the caller (it needs no privilege, and the build under root's home is closed to postgres);
    # root reaches the server's 0700 socket directory anyway.
    # shellcheck disable=SC2016
    setsid sh -c 'cd "$1" && exec "$2" "$1/gateway.json" >>"$1/gateway.log" 2>&1 </dev/null & echo $! >"$1/gateway.pid"' \
        sh "$DIR" "$GATEWAY"
    local i
    for i in $(seq 1 600); do
        port_open "$GATEWAY_PORT" && return
        alive "$DIR/gateway.pid" || break
        sleep 0.1
    done
    tail -n 30 "$DIR/gateway.log" >&2
    die "the gateway did not listen on 127.0.0.1:$GATEWAY_PORT"
}

start() {
    DIR="$(mkdir -p "$1" && cd "$1" && pwd)"
    installed || die "DocumentDB is not installed: run $0 install"
    if [ ! -f "$DIR/server.env" ]; then
        [ -z "$(ls -A "$DIR")" ] || die "$DIR is neither empty nor a DocumentDB server's directory"
        init_server
    fi
    # shellcheck disable=SC1091
    . "$DIR/server.env"
    start_postgres
    [ -f "$DIR/initialized" ] || setup_extension
    start_gateway
    uri "$DIR"
}

stop_pid() {
    local file=$1 pid i
    alive "$file" || { rm -f "$file"; return; }
    pid="$(head -n 1 "$file")"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$file"
}

stop() {
    DIR="$(cd "$1" && pwd)" || die "no directory $1"
    [ -f "$DIR/server.env" ] || die "$DIR holds no DocumentDB server"
    stop_pid "$DIR/gateway.pid"
    if alive "$DIR/pgdata/postmaster.pid"; then
        as_server "$PG_BIN/pg_ctl" -D "$DIR/pgdata" -m fast -w -t 60 stop >/dev/null ||
            as_server "$PG_BIN/pg_ctl" -D "$DIR/pgdata" -m immediate -w stop >/dev/null
    fi
}

case "${1:-}" in
    install) install ;;
    start) [ $# -eq 2 ] || die "usage: $0 start DIR"; start "$2" ;;
    stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
    uri) [ $# -eq 2 ] || die "usage: $0 uri DIR"; uri "$(cd "$2" && pwd)" ;;
    *) echo "usage: $0 install | start DIR | stop DIR | uri DIR" >&2; exit 2 ;;
esac
