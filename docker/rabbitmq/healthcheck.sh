#!/bin/sh
# A node is healthy when its listeners answer and, in a cluster of BROKER_CLUSTER_SIZE
# nodes, when that many nodes run (so the services, which wait for rabbitmq to be healthy,
# declare their quorum queues with a member on every node). One CLI call either way.
set -eu

size=${BROKER_CLUSTER_SIZE:-1}
if [ "$size" -le 1 ]; then
    exec rabbitmq-diagnostics -q check_port_connectivity
fi
running=$(rabbitmqctl -q cluster_status --formatter json | tr -d ' \r\n' \
    | sed -n 's/.*"running_nodes":\[\([^]]*\)\].*/\1/p' | tr ',' '\n' | grep -c '@' || true)
if [ "$running" -lt "$size" ]; then
    echo "$running of $size nodes running" >&2
    exit 1
fi
