#!/usr/bin/env bash
# docker-compose's Kafka broker (apache/kafka image): the image's own start, after formatting the
# storage WITH the super user's SCRAM-SHA-512 credential, as scripts/devstack.py formats the local
# broker. The image formats without SCRAM users, and a broker whose every listener asks for SCRAM
# could then authenticate nobody, itself included. Its own format step finds the storage formatted
# ("already formatted") and goes on.
set -euo pipefail

# The server properties the image derives from the KAFKA_* variables (its KafkaDockerWrapper's rule:
# `_` -> `.`, `__` -> `_`, `___` -> `-`; the JVM/log4j variables are not properties), for the format.
props=/tmp/format.properties
env | awk '
  /^KAFKA_/ {
    i = index($0, "="); name = substr($0, 1, i - 1)
    if (name ~ /^KAFKA_(VERSION|HEAP_OPTS|LOG4J_OPTS|OPTS|JMX_OPTS|JVM_PERFORMANCE_OPTS|GC_LOG_OPTS|LOG4J_ROOT_LOGLEVEL|LOG4J_LOGGERS|TOOLS_LOG4J_LOGLEVEL|JMX_HOSTNAME)$/) next
    key = tolower(substr(name, 7)); gsub(/_/, ".", key); gsub(/\.\.\./, "-", key); gsub(/\.\./, "_", key)
    print key "=" substr($0, i + 1)
  }' > "$props"
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted --cluster-id "$CLUSTER_ID" --config "$props" \
  --add-scram "SCRAM-SHA-512=[name=admin,password=$SCRAM_ADMIN_PASSWORD]"
rm -f "$props"

# The healthcheck's client: the super user over the SASL listener (healthy = SCRAM works).
umask 077
cat > /tmp/admin-client.properties <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$SCRAM_ADMIN_PASSWORD";
PROPERTIES

exec /etc/kafka/docker/run
