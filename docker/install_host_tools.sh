#!/usr/bin/env bash
# Install the host tools the image tests use, from Debian packages, when missing:
#   docker.io       the engine (dockerd) and a BuildKit-capable client
#   docker-registry a local registry the push test pushes to
#   debootstrap     builds a base image where Docker Hub cannot be reached
# Needs root for apt-get; without root it only reports what is missing.
set -euo pipefail

declare -A package_for=([dockerd]=docker.io [docker-registry]=docker-registry [debootstrap]=debootstrap)
missing=()
for tool in "${!package_for[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || [ -x "/usr/bin/$tool" ] \
    || missing+=("${package_for[$tool]}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "missing host packages: ${missing[*]} (install them with apt-get as root)" >&2
  exit 1
fi
echo "installing host packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
