#!/usr/bin/env bash
# Serve the model trained by train_local.sh on http://127.0.0.1:8080, with
# /opt/ml/model mounted read-only as on SageMaker. Ctrl-C stops it.
#
#   local_test/serve_local.sh [IMAGE]          (default: sklearn-byoc:latest)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
image=${1:-sklearn-byoc:latest}
docker=${DOCKER:-docker}

[ -f "$here/test_dir/model/model.json" ] \
  || { echo "no model in $here/test_dir/model: run local_test/train_local.sh first" >&2; exit 1; }
exec "$docker" run --rm -p 127.0.0.1:8080:8080 \
  -v "$here/test_dir/model:/opt/ml/model:ro" "$image" serve
