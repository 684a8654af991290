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
# Started as root (as SageMaker starts images), it runs the command through
# container/runtime_user.py, which hands the command's output folders to the
# unprivileged account `sklearn` and runs the command as that account, or says
# why it cannot and stays root (docs/security.md). Started as any other user,
# it runs the command as that user.
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
  train)    set -- "$PYTHON" -m container.training "$@" ;;
  serve)    set -- "$PYTHON" -m container.serving "$@" ;;
  baseline) set -- "$PYTHON" -m container.monitoring.baseline "$@" ;;
  monitor)  set -- "$PYTHON" -m container.monitoring.monitor "$@" ;;
  prepare)  set -- "$PYTHON" -m container.preparation "$@" ;;
  evaluate) set -- "$PYTHON" -m container.training.assessment "$@" ;;
  *)        set -- "$command" "$@" ;;
esac
if [ "$(id -u)" = 0 ]; then
  exec "$PYTHON" -m container.runtime_user "$command" "$@"
fi
exec "$@"
