#!/bin/sh
# The image's exec-form ENTRYPOINT.
#
# SageMaker starts the image as `IMAGE train` (training jobs) or `IMAGE serve`
# (endpoints, batch transform); processing jobs pass `baseline`, `monitor`,
# or, in the pipeline, `prepare` and `evaluate`.
# Some clients start it with no argument: then a training job is recognised by
# the config folder SageMaker mounts only for training. Any other command runs
# as given, so `docker run -it IMAGE bash` works.
#
# `exec` keeps one process: the job itself receives SageMaker's SIGTERM.
set -eu

PYTHON=/opt/venv/bin/python
OPT_ML=${SKLEARN_BYOC_OPT_ML:-/opt/ml}

if [ "$#" -eq 0 ]; then
  if [ -d "$OPT_ML/input/config" ]; then set -- train; else set -- serve; fi
fi

command=$1
shift
case "$command" in
  train)    exec "$PYTHON" -m container.training "$@" ;;
  serve)    exec "$PYTHON" -m container.serving "$@" ;;
  baseline) exec "$PYTHON" -m container.monitoring.baseline "$@" ;;
  monitor)  exec "$PYTHON" -m container.monitoring.monitor "$@" ;;
  prepare)  exec "$PYTHON" -m container.preparation "$@" ;;
  evaluate) exec "$PYTHON" -m container.training.assessment "$@" ;;
  *)        exec "$command" "$@" ;;
esac
