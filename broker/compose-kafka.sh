#!/usr/bin/env bash
# docker-compose's broker (apache/kafka image): the same security as broker/kafka.sh, on the
# compose network. SASL/SCRAM-SHA-512 for clients (listener CLIENT, kafka:9092), SASL/PLAIN for
# the controller (KRaft keeps SCRAM credentials in its metadata log), StandardAuthorizer with no
# access without an ACL; "admin", the one super user, is bootstrapped when the log dir is
# formatted. Passwords come from the environment (.env): KAFKA_ADMIN_PASSWORD,
# KAFKA_CONTROLLER_PASSWORD. KAFKA_HOST: its name on the compose network (kafka; province-kafka
# for the provincial cluster of the "province" profile).
set -euo pipefail
: "${KAFKA_ADMIN_PASSWORD:?set KAFKA_ADMIN_PASSWORD}" "${KAFKA_CONTROLLER_PASSWORD:?set KAFKA_CONTROLLER_PASSWORD}"
data=/var/lib/kafka/data
config=/tmp/server.properties
cat > "$config" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${KAFKA_HOST:-kafka}:9093
listeners=CLIENT://:9092,CONTROLLER://:9093
advertised.listeners=CLIENT://${KAFKA_HOST:-kafka}:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
inter.broker.listener.name=CLIENT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD}";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="${KAFKA_CONTROLLER_PASSWORD}" user_controller="${KAFKA_CONTROLLER_PASSWORD}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:controller
log.dirs=${data}
num.partitions=4
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
group.initial.rebalance.delay.ms=0
PROPS
if [ ! -f "$data/meta.properties" ]; then
  /opt/kafka/bin/kafka-storage.sh format -t "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" -c "$config" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=${KAFKA_ADMIN_PASSWORD}]"
fi
exec /opt/kafka/bin/kafka-server-start.sh "$config"
