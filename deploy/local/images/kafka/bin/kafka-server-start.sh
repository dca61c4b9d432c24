#!/bin/bash
# kafka-server-start.sh server.properties
exec /opt/kafka/bin/kafka-run-class.sh kafka.Kafka "$@"
