#!/usr/bin/env bash
# Entrypoint of the `kafka` service in deploy/compose/compose.yaml (apache/kafka image).
#
# One KRaft node (broker + controller) with SASL/SCRAM-SHA-512 and the
# StandardAuthorizer, the same security model as `edoc local kafka start --secure`
# (deploy/kafka/secure.properties.template) and Strimzi (deploy/k8s/kafka.yaml):
#   - clients authenticate with SCRAM-SHA-512 on the INTERNAL listener (compose network);
#   - the controller listener is PLAINTEXT on localhost inside this container only, so
#     the broker reaching its own controller as User:ANONYMOUS is the only anonymous
#     principal (it is a super-user for that reason);
#   - the super-user edoc-admin gets its SCRAM credential at format time (nobody could
#     log in to create it later); `edoc kafka provision` creates everyone else.
# The rendered server.properties holds the admin password: it is written 0600.
#
# Environment: KAFKA_ADMIN_PASSWORD and KAFKA_CLUSTER_ID (required); KAFKA_HOME
# (/opt/kafka), KAFKA_DATA_DIR, KAFKA_CONF_DIR, KAFKA_LISTEN_HOST (all interfaces),
# KAFKA_ADVERTISED_HOST (kafka), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
# KAFKA_MESSAGE_MAX_BYTES (EDOC_MAX_PACKAGE_BYTES plus headroom, as hub/localkafka/broker.py).
set -euo pipefail

: "${KAFKA_ADMIN_PASSWORD:?set KAFKA_ADMIN_PASSWORD (deploy/compose/.env)}"
: "${KAFKA_CLUSTER_ID:?set KAFKA_CLUSTER_ID (22 characters, base64url; see .env.example)}"
case "$KAFKA_ADMIN_PASSWORD" in
  *[!A-Za-z0-9_-]*) echo "KAFKA_ADMIN_PASSWORD: use only A-Z a-z 0-9 _ - (it goes into a JAAS line)" >&2; exit 2 ;;
esac

KAFKA_HOME=${KAFKA_HOME:-/opt/kafka}
DATA_DIR=${KAFKA_DATA_DIR:-/var/lib/kafka/data}
CONF_DIR=${KAFKA_CONF_DIR:-/var/lib/kafka/config}
LISTEN_HOST=${KAFKA_LISTEN_HOST:-}
ADVERTISED_HOST=${KAFKA_ADVERTISED_HOST:-kafka}
PORT=${KAFKA_PORT:-9092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
MAX_BYTES=${KAFKA_MESSAGE_MAX_BYTES:-23418197}
ADMIN=edoc-admin

umask 077
mkdir -p "$DATA_DIR" "$CONF_DIR"
cat > "$CONF_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:${CONTROLLER_PORT}
controller.listener.names=CONTROLLER
listeners=INTERNAL://${LISTEN_HOST}:${PORT},CONTROLLER://localhost:${CONTROLLER_PORT}
advertised.listeners=INTERNAL://${ADVERTISED_HOST}:${PORT}
listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=INTERNAL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${ADMIN}" password="${KAFKA_ADMIN_PASSWORD}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:${ADMIN};User:ANONYMOUS
log.dirs=${DATA_DIR}
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes=${MAX_BYTES}
replica.fetch.max.bytes=${MAX_BYTES}
log.retention.hours=168
PROPS

# --ignore-formatted: a restart keeps the data (and the credential made the first time).
"$KAFKA_HOME/bin/kafka-storage.sh" format --ignore-formatted \
  -t "$KAFKA_CLUSTER_ID" -c "$CONF_DIR/server.properties" \
  --add-scram "SCRAM-SHA-512=[name=${ADMIN},password=${KAFKA_ADMIN_PASSWORD}]"
exec "$KAFKA_HOME/bin/kafka-server-start.sh" "$CONF_DIR/server.properties"
