#!/usr/bin/env bash
# Send a payload to the server started by serve_local.sh.
#
#   local_test/predict.sh [PAYLOAD] [CONTENT_TYPE] [ACCEPT]
#   defaults: local_test/payloads/penguins.csv, text/csv, text/csv
#   e.g.      local_test/predict.sh local_test/payloads/penguins.json application/json
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
payload=${1:-$here/payloads/penguins.csv}
content_type=${2:-text/csv}
accept=${3:-$content_type}
url=${SERVER_URL:-http://127.0.0.1:8080}

[ -f "$payload" ] || { echo "no such payload file: $payload" >&2; exit 1; }
curl --silent --show-error --fail-with-body \
  -H "Content-Type: $content_type" -H "Accept: $accept" \
  --data-binary "@$payload" "$url/invocations"
echo
