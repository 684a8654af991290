#!/usr/bin/env bash
# Train the image on local_test/test_dir, mounted as /opt/ml, exactly as
# SageMaker would: `docker run IMAGE train`. The model lands in
# local_test/test_dir/model/, a failure reason in test_dir/output/failure.
#
#   local_test/train_local.sh [IMAGE]          (default: sklearn-byoc:latest)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
image=${1:-sklearn-byoc:latest}
docker=${DOCKER:-docker}

rm -rf "$here/test_dir/model" "$here/test_dir/output"
mkdir -p "$here/test_dir/model" "$here/test_dir/output"
"$docker" run --rm -v "$here/test_dir:/opt/ml" "$image" train
echo "model files:"; ls -l "$here/test_dir/model"
