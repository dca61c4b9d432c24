#!/bin/bash
KAFKA_HEAP_OPTS=${KAFKA_TOOLS_HEAP_OPTS:--Xmx256m} \
KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config-default/log4j2-tools.properties} \
  exec /opt/kafka/bin/kafka-run-class.sh kafka.tools.StorageTool "$@"
