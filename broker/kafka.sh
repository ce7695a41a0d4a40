#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft) for tests and runs without Docker.
#
#   broker/kafka.sh fetch    download the broker jars from Maven Central (cached in broker/lib)
#   broker/kafka.sh start    format the KRaft log dir if new, start on loopback, wait until it answers
#   broker/kafka.sh stop     stop cleanly (SIGTERM, then SIGKILL after a grace period)
#   broker/kafka.sh status   exit 0 when the broker answers
#
# Environment: KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (19093), KAFKA_HOME_DIR (.local/kafka),
# KAFKA_LIB_DIR (broker/lib: where the jars go), KAFKA_HEAP (512m), KAFKA_START_TIMEOUT seconds (90).
# The ports lie below Linux's ephemeral range (32768-60999): clients that keep reconnecting to a
# stopped broker on an ephemeral port can self-connect and hold it, so the broker could not restart.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
port="${KAFKA_PORT:-19092}"
controller_port="${KAFKA_CONTROLLER_PORT:-19093}"
home_dir="${KAFKA_HOME_DIR:-$root/.local/kafka}"
heap="${KAFKA_HEAP:-512m}"
timeout_s="${KAFKA_START_TIMEOUT:-90}"
lib="${KAFKA_LIB_DIR:-$here/lib}"
data="$home_dir/data"
logs="$home_dir/logs"
pidfile="$home_dir/broker.pid"
config="$home_dir/server.properties"

log() { echo "kafka.sh: $*" >&2; }

fetch() {
  if [ -f "$lib/.complete" ]; then return 0; fi
  log "fetching Kafka broker jars with Maven (first run only)"
  rm -rf "$lib"
  mvn -B -q -f "$here/pom.xml" "-Dbroker.lib=$lib" dependency:copy-dependencies
  touch "$lib/.complete"
}

java_cmd=(java "-Xms${heap}" "-Xmx${heap}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$here/log4j2.properties" "-Dkafka.logs.dir=$logs" -cp "$lib/*")
java_run() { "${java_cmd[@]}" "$@"; }

write_config() {
  mkdir -p "$data" "$logs"
  cat > "$config" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controller_port}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=${data}
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=-1
PROPS
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid; pid="$(cat "$pidfile")"
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && grep -q "Kafka Server started" "$logs/server.log" 2>/dev/null
}

start() {
  fetch
  if pid="$(running_pid)"; then log "already running (pid $pid) on 127.0.0.1:$port"; return 0; fi
  write_config
  if [ ! -f "$data/meta.properties" ]; then
    local cluster_id; cluster_id="$(java_run kafka.tools.StorageTool random-uuid | tail -n 1)"
    java_run kafka.tools.StorageTool format -t "$cluster_id" -c "$config" >/dev/null
    log "formatted KRaft log dir $data (cluster $cluster_id)"
  fi
  local waited=0
  while true; do
    : > "$logs/server.log"
    # exec in a detached subshell so the pid file holds the JVM's own pid
    (exec setsid "${java_cmd[@]}" kafka.Kafka "$config") > "$logs/stdout.log" 2>&1 < /dev/null &
    echo $! > "$pidfile"
    until answers; do
      if ! running_pid >/dev/null; then break; fi
      if [ "$waited" -ge "$timeout_s" ]; then log "no answer after ${timeout_s}s"; stop; return 1; fi
      sleep 1; waited=$((waited + 1))
    done
    if running_pid >/dev/null; then break; fi
    # Right after a stop the port can still be held by closing connections: wait and try again.
    if grep -q "Unable to start acceptor" "$logs/server.log" && [ "$waited" -lt "$timeout_s" ]; then
      log "port $port not free yet; retrying in 5s"
      sleep 5; waited=$((waited + 5))
      continue
    fi
    log "broker exited during start-up; last lines of $logs:"; tail -n 30 "$logs/stdout.log" "$logs/server.log" >&2
    return 1
  done
  log "broker up on 127.0.0.1:$port after ${waited}s (pid $(cat "$pidfile"), logs in $logs)"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then log "not running"; rm -f "$pidfile"; return 0; fi
  kill -TERM "$pid"
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; log "stopped"; return 0; }
    sleep 1
  done
  log "no clean stop after 30s; killing"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) if running_pid >/dev/null && answers; then echo "up on 127.0.0.1:$port"; else echo "down"; exit 1; fi ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
