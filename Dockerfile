# sklearn-byoc: one image that follows the SageMaker container contract for
# tabular scikit-learn models. Commands: train, serve, baseline, monitor,
# and the pipeline's prepare and evaluate.
#
# Any Python 3.11 base works; a Debian base built from packages does too
# (docker/build_base_image.sh), since everything installs into a venv.
ARG BASE_IMAGE=python:3.11-slim

# ---- build stage: resolve and install the pinned runtime into /opt/venv -------
FROM ${BASE_IMAGE} AS build
RUN python3 -m venv /opt/venv
COPY docker/requirements.txt /tmp/requirements.txt
# An extra CA bundle (corporate proxy, re-signing gateway) or a pip.conf
# (private index) can be given as build secrets; neither lands in a layer.
RUN --mount=type=secret,id=pip_cert \
    --mount=type=secret,id=pip_conf \
    PIP_CERT=$( [ -s /run/secrets/pip_cert ] && echo /run/secrets/pip_cert ) \
    PIP_CONFIG_FILE=$( [ -s /run/secrets/pip_conf ] && echo /run/secrets/pip_conf || echo /dev/null ) \
    /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        --require-virtualenv -r /tmp/requirements.txt \
 && { /opt/venv/bin/pip uninstall -y -q pip setuptools 2>/dev/null || true; }
# Test suites and build-only files are dead weight at run time; so are onnx's
# operator test cases and ONNX Runtime's model-optimisation tools, which
# neither converting nor running model.onnx imports (~22 MB).
RUN find /opt/venv -depth \( -name tests -o -name '*.pyx' -o -name '*.pxd' \
        -o -name '*.h' -o -name '*.cmake' \) -path '*/site-packages/*' -prune -exec rm -rf {} + ; \
    find /opt/venv/lib -name include -path '*pyarrow/include' -prune -exec rm -rf {} + ; \
    rm -rf /opt/venv/lib/python3*/site-packages/onnx/backend/test \
        /opt/venv/lib/python3*/site-packages/onnxruntime/transformers \
        /opt/venv/lib/python3*/site-packages/onnxruntime/quantization \
        /opt/venv/lib/python3*/site-packages/onnxruntime/tools

# ---- runtime stage ---------------------------------------------------------------
FROM ${BASE_IMAGE}
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true \
      org.opencontainers.image.title="sklearn-byoc" \
      org.opencontainers.image.description="SageMaker bring-your-own-container image for tabular scikit-learn models"

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/opt/program \
    PATH=/opt/venv/bin:$PATH \
    LANG=C.UTF-8

# One layer, so dpkg's database is rewritten once:
# - nginx buffers whole requests in front of the sync workers, so a slow client
#   holds an nginx connection rather than a worker (docs/serving.md). Debian's
#   `nginx` is the smallest package with the proxy module.
# - The base Python's own pip, setuptools and wheel (and the copies ensurepip
#   would install) carry known CVEs and nothing at run time uses them: the
#   venv has none. Debian-packaged ones are purged through dpkg, so scanners
#   that read its database stop listing them; python.org builds keep theirs as
#   plain files in site-packages (docs/security.md).
# - The jobs and the server run as the account `sklearn`
#   (container/runtime_user.py); /opt/program and /opt/venv stay root-owned
#   and read-only to it, so it cannot change the code it runs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx \
 && packages=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' \
        'python3-pip*' 'python3-setuptools*' 'python3-wheel*' 'python3*-venv' 2>/dev/null \
        | awk '$1 == "ii" {print $2}') \
 && if [ -n "$packages" ]; then apt-get purge -y -q $packages >/dev/null; fi \
 && for python in /usr/local/bin/python3 /usr/bin/python3; do \
        [ -x "$python" ] || continue; \
        for folder in $("$python" -c 'import site; print(*site.getsitepackages())'); do \
            rm -rf "$folder"/pip "$folder"/pip-* "$folder"/setuptools "$folder"/setuptools-* \
                "$folder"/wheel "$folder"/wheel-* "$folder"/pkg_resources \
                "$folder"/_distutils_hack "$folder"/distutils-precedence.pth; \
        done; \
        rm -f "$("$python" -c 'import ensurepip, os; print(os.path.dirname(ensurepip.__file__))' 2>/dev/null)"/_bundled/*.whl; \
    done \
 && rm -f /usr/local/bin/pip /usr/local/bin/pip3* /usr/share/python-wheels/*.whl \
 && groupadd --system --gid 10001 sklearn \
 && useradd --system --uid 10001 --gid sklearn --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin sklearn \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
        /var/lib/dpkg/*-old /var/cache/debconf/*-old /etc/nginx/sites-enabled/default

COPY --from=build /opt/venv /opt/venv
COPY docker/entrypoint.sh /opt/program/entrypoint.sh
COPY container /opt/program/container
# Byte-compile now: a --read-only container cannot write .pyc files, and a warm
# import is part of the start-up time SageMaker's health check waits for.
# The commands are also on PATH, for jobs that set ContainerEntrypoint.
RUN /opt/venv/bin/python -m compileall -q /opt/program/container \
 && for command in train serve baseline monitor prepare evaluate; do \
        printf '#!/bin/sh\nexec /opt/program/entrypoint.sh %s "$@"\n' "$command" \
            > /usr/local/bin/$command; \
        chmod 0755 /usr/local/bin/$command; \
    done \
 && chmod 0755 /opt/program/entrypoint.sh

WORKDIR /opt/program
EXPOSE 8080
ENTRYPOINT ["/opt/program/entrypoint.sh"]
