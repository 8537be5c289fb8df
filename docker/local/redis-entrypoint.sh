#!/bin/sh
# As the official redis image: a bare `redis-server ...` accepts connections from other
# containers (protected mode off; the port is only reachable on the compose network).
set -eu
if [ "${1:-}" = "redis-server" ]; then
    set -- "$@" --protected-mode no
fi
exec "$@"
