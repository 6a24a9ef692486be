#!/usr/bin/env bash
# /etc/nginx/templates/*.template -> /etc/nginx/conf.d/*, substituting only the variables
# defined in the environment (nginx's own $variables are left alone), then nginx.
set -Eeuo pipefail

template_dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
output_dir="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
filter="${NGINX_ENVSUBST_FILTER:-}"

if [ "$1" = nginx ] && [ -d "$template_dir" ]; then
    defined=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print ( name ~ /${filter}/ ) ? name : \"\" } }" < /dev/null))
    for template in "$template_dir"/*"$suffix"; do
        [ -f "$template" ] || continue
        name=$(basename "$template" "$suffix")
        envsubst "$defined" < "$template" > "$output_dir/$name"
    done
fi

exec "$@"
