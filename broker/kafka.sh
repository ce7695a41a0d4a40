#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft) for tests and runs without Docker.
#
#   broker/kafka.sh fetch    download the broker jars from Maven Central (cached in broker/lib)
#   broker/kafka.sh start    format the KRaft log dir if new, start on loopback, wait until it answers
#   broker/kafka.sh stop     stop cleanly (SIGTERM, then SIGKILL after a grace period)
#   broker/kafka.sh status   exit 0 when the broker answers
#   broker/kafka.sh admin    print the bootstrap administrator's credential file (user admin)
#
# Secured by default: SASL/SCRAM-SHA-512 on the client listener, SASL/PLAIN between the broker and
# its controller, and Kafka's StandardAuthorizer with no access without an ACL. The one super user,
# "admin", is created when the log dir is formatted, with a random password kept in
# $KAFKA_HOME_DIR/admin.credentials (mode 600); `creditstream kafka setup` and `providers add` use
# it to create every other principal and its ACLs. KAFKA_SECURITY=plaintext is the explicit opt-out
# (no authentication, no ACLs), logged at every start.
#
# Environment: KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (19093), KAFKA_HOME_DIR (.local/kafka),
# KAFKA_LIB_DIR (broker/lib: where the jars go), KAFKA_HEAP (512m), KAFKA_START_TIMEOUT seconds (90),
# KAFKA_SECURITY (scram | plaintext), KAFKA_ADMIN_PASSWORD (the admin's password at format; random
# if unset).
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
security="${KAFKA_SECURITY:-scram}"
admin_file="$home_dir/admin.credentials"
controller_file="$home_dir/controller.password"

log() { echo "kafka.sh: $*" >&2; }

fetch() {
  if [ -f "$lib/.complete" ]; then return 0; fi
  log "fetching Kafka broker jars with Maven (first run only)"
  rm -rf "$lib"
  # batch mode, no colours: Maven's ANSI codes leaked into the demo's output
  mvn -B -q -Dstyle.color=never -f "$here/pom.xml" "-Dbroker.lib=$lib" dependency:copy-dependencies 2>&1 \
    | sed 's/\x1b\[[0-9;]*m//g' >&2
  touch "$lib/.complete"
}

java_cmd=(java "-Xms${heap}" "-Xmx${heap}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$here/log4j2.properties" "-Dkafka.logs.dir=$logs" -cp "$lib/*")
java_run() { "${java_cmd[@]}" "$@"; }

random_password() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# Passwords stay in the broker's home (mode 600): the admin's for clients that bootstrap the
# others, the controller's only for the broker itself.
ensure_passwords() {
  mkdir -p "$home_dir"
  if [ ! -f "$admin_file" ]; then
    (umask 077; printf 'username=admin\npassword=%s\n' "${KAFKA_ADMIN_PASSWORD:-$(random_password)}" > "$admin_file")
  fi
  if [ ! -f "$controller_file" ]; then
    (umask 077; random_password > "$controller_file")
  fi
}

admin_password() { sed -n 's/^password=//p' "$admin_file"; }

write_config() {
  mkdir -p "$data" "$logs"
  (umask 077; : > "$config")
  if [ "$security" = "plaintext" ]; then
    cat > "$config" <<PROPS
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
PROPS
  else
    local admin controller; admin="$(admin_password)"; controller="$(cat "$controller_file")"
    cat > "$config" <<PROPS
listeners=SASL_PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:${port}
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
inter.broker.listener.name=SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${admin}";
# KRaft keeps SCRAM credentials in the metadata log, so the controller listener cannot use them:
# PLAIN with a password only the broker knows
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="${controller}" user_controller="${controller}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:controller
PROPS
  fi
  cat >> "$config" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controller_port}
controller.listener.names=CONTROLLER
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
  if [ -f "$data/meta.properties" ] && [ ! -f "$admin_file" ]; then
    log "$data was formatted without an administrator credential (before security): remove $home_dir to start afresh"
    return 1
  fi
  ensure_passwords
  write_config
  if [ ! -f "$data/meta.properties" ]; then
    local cluster_id; cluster_id="$(java_run kafka.tools.StorageTool random-uuid | tail -n 1)"
    # the admin's SCRAM credential is bootstrapped into the metadata log even in plaintext mode,
    # so the same log dir can be secured later
    java_run kafka.tools.StorageTool format -t "$cluster_id" -c "$config" \
      --add-scram "SCRAM-SHA-512=[name=admin,password=$(admin_password)]" >/dev/null
    log "formatted KRaft log dir $data (cluster $cluster_id)"
  fi
  if [ "$security" = "plaintext" ]; then
    log "SECURITY OFF (KAFKA_SECURITY=plaintext): no authentication and no ACLs on 127.0.0.1:$port"
  elif [ "$security" != "scram" ]; then
    log "KAFKA_SECURITY=$security: must be scram or plaintext"; return 2
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
  log "broker up on 127.0.0.1:$port after ${waited}s (pid $(cat "$pidfile"), $security, logs in $logs)"
  [ "$security" = "plaintext" ] || log "administrator credential: $admin_file"
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
  admin) ensure_passwords; echo "$admin_file" ;;
  status) if running_pid >/dev/null && answers; then echo "up on 127.0.0.1:$port"; else echo "down"; exit 1; fi ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
