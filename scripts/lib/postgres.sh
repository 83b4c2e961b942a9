# A private, throw-away PostgreSQL cluster for scripts (sourced by scripts/test.sh and
# scripts/chaos.sh): initdb in a mktemp folder, a unix socket in that folder only (no TCP), trust
# authentication. As root, initdb and pg_ctl run as the `postgres` system user (they refuse root).
#
#   source scripts/lib/postgres.sh
#   pg_cluster_create PREFIX          # initdb + start; sets PG_DIR, PG_URL (libpq keyword string)
#   pg_cluster_stop [MODE]            # pg_ctl stop (fast by default; immediate = a crash)
#   pg_cluster_start                  # start the same cluster again
#   pg_cluster_destroy                # stop (immediate) and remove the folder; safe to call twice
#
# The caller defines pg_log MESSAGE and pg_die MESSAGE (how it reports) before calling.

PG_PORT=5432   # the socket lives in a private folder, so the usual port cannot clash
PG_DIR=""
PG_URL=""
PG_RUNNING=0

if [[ $(id -u) -eq 0 ]]; then
    PG_SUPERUSER=postgres
    pg_as_owner() { runuser -u postgres -- "$@"; }
else
    PG_SUPERUSER=$(id -un)
    pg_as_owner() { "$@"; }
fi

# Checks what the cluster needs; call before pg_cluster_create.
pg_tools_check() {
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || pg_die "running as root but there is no 'postgres' system user"
    fi
    PG_INITDB=$(command -v initdb) || pg_die "initdb not found on PATH"
    PG_CTL=$(command -v pg_ctl) || pg_die "pg_ctl not found on PATH"
}

# pg_cluster_create PREFIX [EXTRA_CONF_LINE…]
pg_cluster_create() {
    local prefix=$1; shift
    pg_tools_check
    PG_DIR=$(mktemp -d "/tmp/$prefix.XXXXXX")
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$PG_DIR"; fi
    pg_log "initdb in $PG_DIR (superuser $PG_SUPERUSER)"
    # Run from inside the folder so the postgres user never needs access to the caller's cwd.
    (cd "$PG_DIR" && pg_as_owner "$PG_INITDB" -D "$PG_DIR/data" --auth=trust -U "$PG_SUPERUSER" \
        -E UTF8 --locale=C.UTF-8 --no-sync >"$PG_DIR/initdb.log" 2>&1) || {
        cat "$PG_DIR/initdb.log" >&2
        pg_die "initdb failed"
    }
    {
        echo ""
        echo "# --- private cluster (scripts/lib/postgres.sh) ---"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$PG_DIR'"
        echo "port = $PG_PORT"
        echo "max_connections = 300"
        echo "shared_buffers = 128MB"
        echo "fsync = on"
        local line
        for line in "$@"; do echo "$line"; done
    } >>"$PG_DIR/data/postgresql.conf"
    PG_URL="host=$PG_DIR port=$PG_PORT user=$PG_SUPERUSER dbname=postgres"
    pg_cluster_start
}

pg_cluster_start() {
    pg_log "starting PostgreSQL (socket in $PG_DIR)"
    (cd "$PG_DIR" && pg_as_owner "$PG_CTL" -w -D "$PG_DIR/data" -l "$PG_DIR/server.log" start >/dev/null) || {
        tail -n 30 "$PG_DIR/server.log" >&2 || true
        pg_die "pg_ctl start failed"
    }
    PG_RUNNING=1
}

# pg_cluster_stop [fast|immediate|smart]
pg_cluster_stop() {
    local mode=${1:-fast}
    pg_log "stopping PostgreSQL (-m $mode)"
    (cd "$PG_DIR" && pg_as_owner "$PG_CTL" -w -D "$PG_DIR/data" -m "$mode" stop >/dev/null 2>&1) || true
    PG_RUNNING=0
}

pg_cluster_destroy() {
    if [[ -n $PG_DIR ]]; then
        if [[ -f $PG_DIR/data/postmaster.pid ]] || ((PG_RUNNING)); then
            (cd "$PG_DIR" && pg_as_owner "$PG_CTL" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1) || true
            PG_RUNNING=0
        fi
        rm -rf -- "$PG_DIR"
        PG_DIR=""
    fi
}
