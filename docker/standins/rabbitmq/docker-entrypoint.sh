#!/usr/bin/env bash
# The default user and vhost from the environment, then the server as the rabbitmq user.
set -Eeuo pipefail

if [ "$(id -u)" = 0 ]; then
    conf=/etc/rabbitmq/conf.d/15-default-user.conf
    rm -f "$conf"
    if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then
        echo "default_user = $RABBITMQ_DEFAULT_USER" >> "$conf"
    fi
    if [ -n "${RABBITMQ_DEFAULT_PASS:-}" ]; then
        echo "default_pass = $RABBITMQ_DEFAULT_PASS" >> "$conf"
    fi
    if [ -n "${RABBITMQ_DEFAULT_VHOST:-}" ]; then
        echo "default_vhost = $RABBITMQ_DEFAULT_VHOST" >> "$conf"
    fi
    chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /etc/rabbitmq
    if [ "$1" = rabbitmq-server ]; then
        exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$@"
    fi
fi

exec "$@"
