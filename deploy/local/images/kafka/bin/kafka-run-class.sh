#!/bin/bash
# kafka-run-class.sh CLASS ARGS...: the JVM options of Kafka's own script, the image's jars and
# log4j2 config (KAFKA_LOG4J_OPTS to change it), KAFKA_HEAP_OPTS and KAFKA_OPTS.
set -euo pipefail
class=$1
shift
read -r -a jvm_options < /opt/kafka/config-default/jvm-options
read -r -a heap <<< "${KAFKA_HEAP_OPTS:--Xmx256m}"
read -r -a log4j <<< "${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config-default/log4j2.properties}"
read -r -a extra <<< "${KAFKA_OPTS:-}"
exec java "${heap[@]}" "${jvm_options[@]}" "${log4j[@]}" "${extra[@]}" -cp '/opt/kafka/libs/*' "$class" "$@"
