#!/bin/sh
# What the official nginx image's entrypoint does with templates: each
# /etc/nginx/templates/NAME.template becomes /etc/nginx/conf.d/NAME, with only the
# environment variables whose names match NGINX_ENVSUBST_FILTER substituted.
set -eu
if [ -d /etc/nginx/templates ]; then
    filter="${NGINX_ENVSUBST_FILTER:-}"
    names=$(env | cut -d= -f1 | grep -E "^${filter}" | sed 's/^/${/; s/$/}/' | tr '\n' ' ')
    for template in /etc/nginx/templates/*.template; do
        [ -e "$template" ] || continue
        target="/etc/nginx/conf.d/$(basename "$template" .template)"
        envsubst "$names" < "$template" > "$target"
    done
fi
exec "$@"
