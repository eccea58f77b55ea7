#!/usr/bin/env bash
# A local Flink 1.19.3 session cluster (one JobManager, N TaskManagers) for --runner FlinkRunner
# --flink_master localhost:8081. Flink comes from PyPI (apache-flink + apache-flink-libraries carry
# the whole distribution: bin/, conf/, lib/). It must be 1.19.x, the Flink line of the job server jar
# (engines/fetch-flink-job-server.sh); a 1.20 cluster refuses Beam's job graph.
#
#   engines/flink.sh install   install the distribution if missing (make engines)
#   engines/flink.sh up        idempotent: start the JobManager if it is not running, then TaskManagers
#                              until $FLINK_TASKMANAGERS live ones exist (a dead or SIGKILLed one is
#                              replaced; extra ones are left running), wait until every live one has
#                              registered and /overview reports >= N
#   engines/flink.sh down      stop all our TaskManagers, then the JobManager (TERM, wait, KILL after
#                              $FLINK_STOP_TIMEOUT s); fails if any process of ours is left
#   engines/flink.sh status    JobManager/TaskManager pids and the /overview JSON; exit 0 if up, 3 if not
#   engines/flink.sh tm-pids   live TaskManager pids, one per line (e.g. to SIGKILL one in a test)
#
# Layout (under .engines/flink/, git-ignored; $NEWS_INGEST_ENGINES moves .engines):
#   dist/pyflink/   FLINK_HOME (pip install --no-deps --target dist apache-flink==1.19.3 ...)
#   conf/           FLINK_CONF_DIR: the distribution's conf/ plus our config.yaml (written on `up`
#                   when no JobManager is running)
#   log/            flink-news-ingest-standalonesession-0-HOST.log, ...-taskexecutor-I-HOST.log/.out
#   run/            pid files: flink-news-ingest-standalonesession.pid, flink-news-ingest-taskexecutor.pid
#                   (Flink's own format, one pid per line; dead pids are cleaned out on every up/down)
#   tmp/            io.tmp.dirs: the processes' working folders (a copy of every submitted job's jar in
#                   blob storage, 150+ MB per job), removed by `down` and by an `up` that finds no process
#                   of ours; Flink removes them itself only on a clean exit, so a killed TaskManager (the
#                   crash tests) or a killed machine left them in /tmp before
#
# Env: FLINK_TASKMANAGERS (1) FLINK_REST_PORT (8081) FLINK_RPC_PORT (6123) FLINK_TM_SLOTS (2)
#      FLINK_JM_MEMORY (1024m) FLINK_TM_MEMORY (1728m) FLINK_START_TIMEOUT (120) FLINK_STOP_TIMEOUT (20)
#      PY: the python that runs pip for `install` (default .venv/bin/python, else python3)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
ENGINES=$(realpath -m "${NEWS_INGEST_ENGINES:-$ROOT/.engines}")
FLINK_VERSION=1.19.3            # must stay 1.19.x: the job server jar is beam-runners-flink-1.19
BASE=$ENGINES/flink
DIST=$BASE/dist
export FLINK_HOME=$DIST/pyflink
export FLINK_CONF_DIR=$BASE/conf
LOG_DIR=$BASE/log
PID_DIR=$BASE/run
TMP_DIR=$BASE/tmp
# Flink names pid and log files flink-<ident>-<daemon>; the default ident is $USER (empty in some
# containers), so fix it to make the paths predictable.
export FLINK_IDENT_STRING=news-ingest
unset FLINK_PID_DIR FLINK_LOG_DIR   # the conf below decides (env.pid.dir, env.log.dir)
JM_PIDFILE=$PID_DIR/flink-$FLINK_IDENT_STRING-standalonesession.pid
TM_PIDFILE=$PID_DIR/flink-$FLINK_IDENT_STRING-taskexecutor.pid
JM_CLASS=org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint
TM_CLASS=org.apache.flink.runtime.taskexecutor.TaskManagerRunner

TASKMANAGERS=${FLINK_TASKMANAGERS:-1}
REST_PORT=${FLINK_REST_PORT:-8081}
RPC_PORT=${FLINK_RPC_PORT:-6123}
TM_SLOTS=${FLINK_TM_SLOTS:-2}
JM_MEMORY=${FLINK_JM_MEMORY:-1024m}
TM_MEMORY=${FLINK_TM_MEMORY:-1728m}
START_TIMEOUT=${FLINK_START_TIMEOUT:-120}
STOP_TIMEOUT=${FLINK_STOP_TIMEOUT:-20}

log() { echo "flink: $*"; }
die() { echo "flink: ERROR: $*" >&2; exit 1; }

[[ $TASKMANAGERS =~ ^[0-9]+$ ]] || die "FLINK_TASKMANAGERS must be a number (got '$TASKMANAGERS')"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- processes -------------------------------------------------------------------------------------
ours() {   # ours PID CLASS: PID is alive and is our Flink JVM of that kind (guards against pid reuse;
           # a zombie has an empty cmdline and so counts as dead)
  local cmd
  cmd=$(tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  grep -qxF "$2" <<<"$cmd" && grep -qxF "$FLINK_CONF_DIR" <<<"$cmd"
}

live_pids() {   # live_pids CLASS PIDFILE: our live JVMs of that kind, pid-file order first, then any
                # found in /proc that the pid file lost
  local class=$1 pidfile=$2 pid seen=" "
  if [[ -f $pidfile ]]; then
    while read -r pid; do
      [[ $pid =~ ^[0-9]+$ && $seen != *" $pid "* ]] || continue
      if ours "$pid" "$class"; then echo "$pid"; seen+="$pid "; fi
    done <"$pidfile"
  fi
  local f
  for f in $(grep -lzxF -- "$FLINK_CONF_DIR" /proc/[0-9]*/cmdline 2>/dev/null || true); do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    [[ $seen != *" $pid "* ]] || continue
    if ours "$pid" "$class"; then echo "$pid"; seen+="$pid "; fi
  done
}

tidy_pidfile() {   # tidy_pidfile CLASS PIDFILE: keep only live pids (Flink appends one line per start
                   # and never drops dead ones; its log index is the line count, so this also reuses
                   # the index of a dead TaskManager, whose old log is rolled to .log.1 on start)
  local pids
  pids=$(live_pids "$1" "$2")
  if [[ -n $pids ]]; then echo "$pids" >"$2.tmp" && mv -f "$2.tmp" "$2"; else rm -f "$2"; fi
}

# ---- install and conf ------------------------------------------------------------------------------
pick_python() {
  if [[ -n ${PY:-} ]]; then echo "$PY"
  elif [[ -x $ROOT/.venv/bin/python ]]; then echo "$ROOT/.venv/bin/python"
  else echo python3; fi
}

installed() { [[ -f $FLINK_HOME/bin/jobmanager.sh && -f $FLINK_HOME/lib/flink-dist-$FLINK_VERSION.jar ]]; }

cmd_install() {
  if installed; then log "Flink $FLINK_VERSION present (${FLINK_HOME#$ROOT/})"; return 0; fi
  [[ -z $(live_pids "$JM_CLASS" "$JM_PIDFILE")$(live_pids "$TM_CLASS" "$TM_PIDFILE") ]] \
    || die "a cluster runs from ${DIST#$ROOT/} but it is not Flink $FLINK_VERSION; run '$0 down' first"
  local py t0=$SECONDS
  py=$(pick_python)
  log "installing Flink $FLINK_VERSION from PyPI into ${DIST#$ROOT/} (apache-flink-libraries is a ~230 MB sdist; cached by pip afterwards)"
  rm -rf "$DIST.tmp"; mkdir -p "$BASE"
  # --no-deps: apache-flink pins an old apache-beam; only its files are needed, not a working pyflink
  if ! PIP_ROOT_USER_ACTION=ignore "$py" -m pip install -q --disable-pip-version-check --no-deps --target "$DIST.tmp" \
        "apache-flink==$FLINK_VERSION" "apache-flink-libraries==$FLINK_VERSION"; then
    rm -rf "$DIST.tmp"; die "pip could not install apache-flink $FLINK_VERSION (see above)"
  fi
  [[ -f $DIST.tmp/pyflink/lib/flink-dist-$FLINK_VERSION.jar ]] || die "no flink-dist jar after pip install"
  chmod +x "$DIST.tmp"/pyflink/bin/*.sh "$DIST.tmp"/pyflink/bin/flink
  rm -rf "$DIST"; mv "$DIST.tmp" "$DIST"
  log "installed Flink $FLINK_VERSION ($(du -sh "$DIST" | cut -f1), $((SECONDS - t0))s)"
}

write_conf() {
  # Flink 1.19 reads conf/flink-conf.yaml (old flat format) if that file exists, else conf/config.yaml
  # (standard YAML; what the distribution ships). Only config.yaml is written; flat keys are valid there.
  rm -rf "$FLINK_CONF_DIR"; mkdir -p "$FLINK_CONF_DIR" "$LOG_DIR" "$PID_DIR"
  cp "$FLINK_HOME"/conf/* "$FLINK_CONF_DIR"/
  rm -f "$FLINK_CONF_DIR/flink-conf.yaml"
  # the distribution's --add-exports/--add-opens list for Java 17, kept as shipped
  local java_opts
  java_opts=$(sed -n 's/^ *all: *\(--add-.*\)$/\1/p' "$FLINK_HOME/conf/config.yaml" | head -n 1)
  cat >"$FLINK_CONF_DIR/config.yaml" <<YAML
# generated by engines/flink.sh (rewritten on every 'up' that starts the JobManager)
env.java.opts.all: $java_opts
env.log.dir: $LOG_DIR
env.pid.dir: $PID_DIR
io.tmp.dirs: $TMP_DIR

# everything on localhost only
jobmanager.rpc.address: localhost
jobmanager.rpc.port: $RPC_PORT
jobmanager.bind-host: localhost
taskmanager.bind-host: localhost
taskmanager.host: localhost
rest.address: localhost
rest.bind-address: localhost
rest.port: $REST_PORT

# 2 cores / 24 GiB here; Beam's Python SDK workers run outside these JVMs (LOOPBACK: in the
# submitting process), so the JVMs stay small
jobmanager.memory.process.size: $JM_MEMORY
taskmanager.memory.process.size: $TM_MEMORY
taskmanager.numberOfTaskSlots: $TM_SLOTS
# the default (512) needs more network buffers than a 1728m TaskManager has: Beam batch jobs fail
# with "Insufficient number of network buffers: required 512, but only 486 available"
taskmanager.network.sort-shuffle.min-buffers: 64
parallelism.default: 1
jobmanager.execution.failover-strategy: region

# a killed TaskManager is noticed in ~10 s and the job restarts once a replacement registers
restart-strategy.type: fixed-delay
restart-strategy.fixed-delay.attempts: 50
restart-strategy.fixed-delay.delay: 3 s
heartbeat.interval: 2000
heartbeat.timeout: 10000

# checkpoints on disk: the JobManager-memory default refuses state over 5 MB, and a window's buffered
# records (a backlog read at once lands in one window) outgrow it ("Size of the state is larger than
# the maximum permitted memory-backed state"); the failed checkpoint then fails the job
state.checkpoint-storage: filesystem
state.checkpoints.dir: file://$BASE/checkpoints
YAML
}

conf_rest_port() { sed -n 's/^rest\.port: *//p' "$FLINK_CONF_DIR/config.yaml" 2>/dev/null || true; }

# ---- REST -------------------------------------------------------------------------------------------
overview() { curl -sf --max-time 3 "http://localhost:$1/overview" 2>/dev/null; }
tm_count() { sed -n 's/.*"taskmanagers":\([0-9]*\).*/\1/p' <<<"$1"; }

tm_registered() {   # tm_registered PID: the TaskManager's current log says it registered
  local logf
  logf=$(tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | sed -n 's/^-Dlog\.file=//p')
  [[ -n $logf ]] && grep -q "Successful registration at resource manager" "$logf" 2>/dev/null
}

show_logs() {
  local f
  for f in $(ls -t "$LOG_DIR"/*.log "$LOG_DIR"/*.out 2>/dev/null | head -n 4); do
    echo "---- ${f#$ROOT/} (tail) ----" >&2
    tail -n 15 "$f" >&2 || true
  done
}

# ---- commands ---------------------------------------------------------------------------------------
cmd_up() {
  installed || cmd_install
  command -v java >/dev/null || die "java not found (Flink 1.19 needs Java 11 or 17)"
  command -v curl >/dev/null || die "curl not found"
  local t0=$SECONDS jm port
  jm=$(live_pids "$JM_CLASS" "$JM_PIDFILE" | head -n 1)
  if [[ -z $jm ]]; then
    port_open "$REST_PORT" && die "port $REST_PORT is in use by another process (not our JobManager)"
    port_open "$RPC_PORT" && die "port $RPC_PORT is in use by another process (not our JobManager)"
    write_conf
    tidy_pidfile "$JM_CLASS" "$JM_PIDFILE"
    # what killed processes left (a live TaskManager without a JobManager keeps its own folder)
    [[ -n $(live_pids "$TM_CLASS" "$TM_PIDFILE") ]] || rm -rf "$TMP_DIR"
    mkdir -p "$TMP_DIR"
    # fd 9 (our lock) must not leak into the daemons, or the lock would outlive this script
    "$FLINK_HOME/bin/jobmanager.sh" start >/dev/null 9>&- || { show_logs; die "jobmanager.sh start failed"; }
    jm=$(live_pids "$JM_CLASS" "$JM_PIDFILE" | head -n 1)
    [[ -n $jm ]] || { show_logs; die "the JobManager exited right after start"; }
    log "started JobManager (pid $jm)"
  fi
  port=$(conf_rest_port); port=${port:-$REST_PORT}
  [[ $port == "$REST_PORT" ]] || log "note: the running cluster uses REST port $port (FLINK_REST_PORT=$REST_PORT ignored until down)"

  tidy_pidfile "$TM_CLASS" "$TM_PIDFILE"
  local tms n started=0
  tms=$(live_pids "$TM_CLASS" "$TM_PIDFILE")
  n=$(grep -c . <<<"$tms" || true)
  while (( n < TASKMANAGERS )); do
    "$FLINK_HOME/bin/taskmanager.sh" start >/dev/null 9>&- || { show_logs; die "taskmanager.sh start failed"; }
    n=$((n + 1)); started=$((started + 1))
  done
  (( n > TASKMANAGERS )) && log "note: $n TaskManagers running, more than FLINK_TASKMANAGERS=$TASKMANAGERS (left running)"

  # ready when every live TaskManager has registered and /overview counts at least N
  local ov="" count pid ok
  while :; do
    ours "$jm" "$JM_CLASS" || { show_logs; die "the JobManager (pid $jm) died during startup"; }
    tms=$(live_pids "$TM_CLASS" "$TM_PIDFILE")
    if (( $(grep -c . <<<"$tms" || true) >= TASKMANAGERS )) && ov=$(overview "$port"); then
      count=$(tm_count "$ov"); ok=1
      for pid in $tms; do tm_registered "$pid" || { ok=0; break; }; done
      (( ok && ${count:-0} >= TASKMANAGERS )) && break
    fi
    if (( SECONDS - t0 >= START_TIMEOUT )); then
      show_logs
      die "cluster not ready within ${START_TIMEOUT}s (live TaskManagers: $(echo $tms); /overview: ${ov:-no answer})"
    fi
    sleep 1
  done
  tidy_pidfile "$TM_CLASS" "$TM_PIDFILE"
  log "up: JobManager $jm, TaskManagers $(echo $tms) (started $started), http://localhost:$port, ready after $((SECONDS - t0))s"
  log "$ov"
}

stop_pids() {   # stop_pids WHAT CLASS PID...: TERM, wait up to STOP_TIMEOUT, then KILL
  local what=$1 class=$2 pid t0=$SECONDS left
  shift 2
  (( $# )) || return 0
  kill "$@" 2>/dev/null || true
  while :; do
    left=()
    for pid in "$@"; do ours "$pid" "$class" && left+=("$pid"); done
    (( ${#left[@]} )) || break
    if (( SECONDS - t0 >= STOP_TIMEOUT )); then
      log "$what ${left[*]} still alive after ${STOP_TIMEOUT}s, sending KILL"
      kill -9 "${left[@]}" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.3
  done
  log "stopped $what $* ($((SECONDS - t0))s)"
}

cmd_down() {
  local tms jm
  tms=$(live_pids "$TM_CLASS" "$TM_PIDFILE")
  jm=$(live_pids "$JM_CLASS" "$JM_PIDFILE")
  if [[ -z $tms$jm ]]; then
    rm -f "$TM_PIDFILE" "$JM_PIDFILE"; rm -rf "$TMP_DIR"; log "not running"; return 0
  fi
  # shellcheck disable=SC2086
  stop_pids TaskManager "$TM_CLASS" $tms
  # shellcheck disable=SC2086
  stop_pids JobManager "$JM_CLASS" $jm
  local left
  left=$(live_pids "$TM_CLASS" "$TM_PIDFILE")$(live_pids "$JM_CLASS" "$JM_PIDFILE")
  [[ -z $left ]] || die "processes still alive after down: $(echo $left)"
  rm -f "$TM_PIDFILE" "$JM_PIDFILE"
  rm -rf "$TMP_DIR"
  log "down"
}

cmd_status() {
  local jm tms port ov
  jm=$(live_pids "$JM_CLASS" "$JM_PIDFILE" | head -n 1)
  tms=$(live_pids "$TM_CLASS" "$TM_PIDFILE")
  port=$(conf_rest_port); port=${port:-$REST_PORT}
  log "JobManager: ${jm:-none}; TaskManagers: $(echo ${tms:-none}); pid files in ${PID_DIR#$ROOT/}/"
  if [[ -n $jm ]] && ov=$(overview "$port"); then
    log "up (http://localhost:$port) $ov"
    return 0
  fi
  [[ -n $jm ]] && log "JobManager running but http://localhost:$port/overview does not answer" || log "down"
  return 3
}

lock() {   # serialize concurrent up/down/install calls (e.g. parallel test sessions)
  mkdir -p "$BASE"
  exec 9>"$BASE/.lock"
  flock -w $((START_TIMEOUT + STOP_TIMEOUT * 2 + 600)) 9 || die "could not get $BASE/.lock"
}

case "${1:-}" in
  install) lock; cmd_install ;;
  up) lock; cmd_up ;;
  down) lock; cmd_down ;;
  status) cmd_status ;;
  tm-pids) live_pids "$TM_CLASS" "$TM_PIDFILE" ;;
  *) echo "usage: $0 install|up|down|status|tm-pids" >&2; exit 2 ;;
esac
