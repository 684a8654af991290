#!/usr/bin/env bash
# Provide the base image the Dockerfile builds FROM.
#
# Usage: docker/build_base_image.sh [IMAGE]     (default: python:3.11-slim)
#
# 1. If IMAGE is present locally, do nothing.
# 2. Else try to pull it.
# 3. Else (no registry reachable) build an equivalent Debian bookworm image with
#    Python 3.11, venv and pip from Debian packages with debootstrap, and tag it
#    local/python-base:3.11. The Debian mirror is read from apt's configuration.
# Prints the image to use as BASE_IMAGE on its last line.
set -euo pipefail

WANTED=${1:-python:3.11-slim}
FALLBACK=local/python-base:3.11
DOCKER=${DOCKER:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || echo docker )}

have() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

if have "$WANTED"; then echo "$WANTED"; exit 0; fi
if timeout 60 "$DOCKER" pull -q "$WANTED" >/dev/null 2>&1; then echo "$WANTED"; exit 0; fi
if have "$FALLBACK"; then echo "$FALLBACK"; exit 0; fi

echo "base image: $WANTED cannot be pulled; building $FALLBACK with debootstrap" >&2
if ! command -v debootstrap >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

mirror=$(grep -h -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' || true)
if [ -z "$mirror" ]; then
  mirror=$(grep -h -m1 -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' || true)
fi
[ -n "$mirror" ] || { echo "error: no Debian mirror found in apt's configuration" >&2; exit 1; }

rootfs=$(mktemp -d /tmp/python-base-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase \
  --include=python3,python3-venv,python3-pip,ca-certificates \
  bookworm "$rootfs" "$mirror" >/tmp/debootstrap.log 2>&1 \
  || { echo "error: debootstrap failed; see /tmp/debootstrap.log" >&2; tail -20 /tmp/debootstrap.log >&2; exit 1; }
# Trim what a runtime image never needs.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
       "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
tar -C "$rootfs" -c . | "$DOCKER" import \
  -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' - "$FALLBACK" >/dev/null
echo "$FALLBACK"
