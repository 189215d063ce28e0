#!/bin/sh
# Entry point of the offline RabbitMQ image: the official image's contract, small.
#  - writes /etc/rabbitmq/rabbitmq.conf from the environment: the default user (created on
#    the first boot of an empty node), logins from other containers (not loopback only),
#    AMQP on 5672 and management on 15672;
#  - writes RABBITMQ_ERLANG_COOKIE, when set, as the node's Erlang cookie (the nodes of a
#    cluster share it; the server's own support for the variable is deprecated);
#  - owns /var/lib/rabbitmq (the node's data and its Erlang cookie), then execs the server as
#    `rabbitmq` (PID 1, so `docker stop` reaches it).
# Extra configuration (the broker cluster's peer discovery) comes as files in
# /etc/rabbitmq/conf.d, appended to rabbitmq.conf.
set -eu

if [ "${1:-}" != rabbitmq-server ]; then
    exec "$@"
fi

conf=/etc/rabbitmq/rabbitmq.conf
{
    echo "loopback_users = none"
    echo "listeners.tcp.default = 5672"
    echo "management.tcp.port = 15672"
    echo "log.console = true"
    echo "log.file = false"
    if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then echo "default_user = $RABBITMQ_DEFAULT_USER"; fi
    if [ -n "${RABBITMQ_DEFAULT_PASS:-}" ]; then echo "default_pass = $RABBITMQ_DEFAULT_PASS"; fi
    if [ -n "${RABBITMQ_DEFAULT_VHOST:-}" ]; then echo "default_vhost = $RABBITMQ_DEFAULT_VHOST"; fi
    # conf.d (the broker cluster's peer discovery) folded in, whether or not this RabbitMQ
    # reads that directory itself: the settings are the same either way.
    for extra in /etc/rabbitmq/conf.d/*.conf; do
        if [ -f "$extra" ]; then cat "$extra"; fi
    done
} >"$conf"
# The server reads these variables too; the file above is the single source.
unset RABBITMQ_DEFAULT_USER RABBITMQ_DEFAULT_PASS RABBITMQ_DEFAULT_VHOST

mkdir -p /var/lib/rabbitmq /var/log/rabbitmq
if [ -n "${RABBITMQ_ERLANG_COOKIE:-}" ]; then
    printf '%s' "$RABBITMQ_ERLANG_COOKIE" >/var/lib/rabbitmq/.erlang.cookie
    chmod 400 /var/lib/rabbitmq/.erlang.cookie
fi
unset RABBITMQ_ERLANG_COOKIE
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
chown rabbitmq:rabbitmq "$conf"
chmod 600 "$conf"
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server
