#!/bin/sh
# The broker's users and their permissions, imported at boot: renders definitions.json
# (beside this script) with the passwords from the environment, points RabbitMQ at it,
# then hands over to the image's own entrypoint. Works with the official image and with
# the local stand-in (docker/standins/rabbitmq), which both run this as root.
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
unset BROKER_ADMIN_PASSWORD BROKER_CORE_PASSWORD BROKER_SOCIAL_PASSWORD

exec docker-entrypoint.sh "$@"
