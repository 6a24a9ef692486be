#!/bin/sh
# The broker's users and their permissions, imported at boot: renders definitions.json
# (beside this script) with the passwords from the environment, points RabbitMQ at it,
# then hands over to the image's own entrypoint. Works with the official image and with
# the local stand-in (docker/standins/rabbitmq), which both run this as root.
#
# In a cluster (the compose profile `cluster`): BROKER_ERLANG_COOKIE is every node's
# Erlang cookie, and a node given BROKER_JOIN (e.g. rabbit@rabbitmq) joins that node on its
# first boot. It waits for that node to accept connections first: a blank node that finds
# no peer starts a cluster of its own. A node with data boots at once (it knows its cluster
# and waits for its peers itself).
#
# The users: BROKER_ADMIN_USER (administrator, the management UI and operator tools),
# core and social (each service's own, limited to the topology's exchanges and queues:
# see the comment in docker-compose.yml). Passwords: letters, digits and . _ ~ - only,
# since they also go into the services' AMQP URLs unescaped.
set -eu

here=$(dirname "$0")
for var in BROKER_ADMIN_USER BROKER_ADMIN_PASSWORD BROKER_CORE_PASSWORD BROKER_SOCIAL_PASSWORD; do
    eval "value=\${$var:-}"
    case "$value" in
        '' | *[!A-Za-z0-9._~-]*)
            echo "error: $var must be set, with letters, digits and . _ ~ - only" >&2
            exit 1 ;;
    esac
done
case "$BROKER_ADMIN_USER" in
    core | social) echo "error: BROKER_ADMIN_USER must not be core or social" >&2; exit 1 ;;
esac

definitions=/etc/rabbitmq/instasaga-definitions.json
umask 077
sed -e "s/@ADMIN_USER@/$BROKER_ADMIN_USER/g" \
    -e "s/@ADMIN_PASSWORD@/$BROKER_ADMIN_PASSWORD/g" \
    -e "s/@CORE_PASSWORD@/$BROKER_CORE_PASSWORD/g" \
    -e "s/@SOCIAL_PASSWORD@/$BROKER_SOCIAL_PASSWORD/g" \
    "$here/definitions.json" > "$definitions"
chown rabbitmq:rabbitmq "$definitions"
umask 022
mkdir -p /etc/rabbitmq/conf.d
echo "load_definitions = $definitions" > /etc/rabbitmq/conf.d/50-instasaga-definitions.conf
if [ -n "${BROKER_ERLANG_COOKIE:-}" ]; then
    case "$BROKER_ERLANG_COOKIE" in
        *[!A-Za-z0-9]*) echo "error: BROKER_ERLANG_COOKIE: letters and digits only" >&2; exit 1 ;;
    esac
    cookie=/var/lib/rabbitmq/.erlang.cookie
    rm -f "$cookie"
    (umask 077 && printf '%s' "$BROKER_ERLANG_COOKIE" > "$cookie")
    chown rabbitmq:rabbitmq "$cookie"
    chmod 400 "$cookie"
fi

if [ -n "${BROKER_JOIN:-}" ]; then
    printf '%s\n' 'cluster_formation.peer_discovery_backend = classic_config' \
        "cluster_formation.classic_config.nodes.1 = $BROKER_JOIN" \
        > /etc/rabbitmq/conf.d/40-instasaga-cluster.conf
    if [ ! -d "/var/lib/rabbitmq/mnesia/rabbit@$(hostname)" ]; then
        seed=${BROKER_JOIN#*@}
        echo "first boot: waiting for $seed:5672 before joining $BROKER_JOIN"
        tries=0
        until bash -c "exec 3<>/dev/tcp/$seed/5672" 2>/dev/null; do
            tries=$((tries + 1))
            if [ "$tries" -ge 150 ]; then
                echo "error: $seed:5672 did not answer in 5 minutes" >&2
                exit 1
            fi
            sleep 2
        done
    fi
fi

unset BROKER_ADMIN_PASSWORD BROKER_CORE_PASSWORD BROKER_SOCIAL_PASSWORD BROKER_ERLANG_COOKIE

exec docker-entrypoint.sh "$@"
