#!/usr/bin/env bash
# Build the sklearn-byoc image and push it to Amazon ECR.
#
#   ./build_and_push.sh [--build-only] [--tag TAG] [--repository NAME]
#                       [--region REGION] [--platform PLATFORM]
#
#   --build-only      build REPOSITORY:TAG locally; touch no AWS service
#   --tag             image tag (default: latest)
#   --repository      ECR repository / local image name (default: sklearn-byoc)
#   --region          AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, or the CLI's)
#   --platform        target platform (default: linux/amd64, what SageMaker runs)
#
# Environment:
#   BASE_IMAGE        base image (default in the Dockerfile: python:3.11-slim)
#   PIP_CERT_FILE     extra CA bundle for pip inside the build (a build secret)
#   PIP_CONF_FILE     pip.conf for a private index (a build secret)
#   DOCKER            docker client to use (default: one with the buildx plugin,
#                     else one that runs BuildKit builds itself)
#   ECR_REGISTRY      push to this registry host instead of the account's
#                     <account>.dkr.ecr.<region>.amazonaws.com (VPC endpoints, mirrors)
#   AWS_ENDPOINT_URL  honoured by the AWS CLI (e.g. an emulator)
#
# SageMaker pulls only Docker v2 schema 2 manifests; an OCI manifest or index
# fails there with "Unsupported manifest media type". With the buildx plugin
# the image is built with --provenance=false --sbom=false and pushed by BuildKit
# with oci-mediatypes=false; without it, a client that runs BuildKit builds
# itself (Docker 20.10) builds and `docker push`es. After the push the script
# asks the registry for the manifest's media type and fails unless it is
# application/vnd.docker.distribution.manifest.v2+json.
#
# Prints the full image URI and its digest on the last two lines.
set -euo pipefail

die() { echo "build_and_push.sh: error: $*" >&2; exit 1; }
# --help prints the comment block above, up to `set -euo pipefail`.
usage() { sed -n '2,/^set -euo pipefail$/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

build_only=false
tag=latest
repository=sklearn-byoc
region=""
platform=linux/amd64
while [ "$#" -gt 0 ]; do
  case "$1" in
    --build-only) build_only=true; shift ;;
    --tag|--repository|--region|--platform)
      [ "$#" -ge 2 ] && [ -n "$2" ] || die "$1 needs a value (see --help)"
      case "$1" in
        --tag) tag=$2 ;; --repository) repository=$2 ;;
        --region) region=$2 ;; --platform) platform=$2 ;;
      esac
      shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ "$repository" =~ ^[a-z0-9]+([._/-][a-z0-9]+)*$ ]] \
  || die "repository name '$repository' is not valid: lowercase letters, digits and . _ - / separators"
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] \
  || die "tag '$tag' is not valid: letters, digits, _ . - (up to 128)"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
has_buildx() { "$1" buildx version >/dev/null 2>&1; }
# A client with the buildx plugin first (docker on PATH, then /usr/bin/docker).
# Without one, the Debian 20.10 client runs BuildKit builds itself, which newer
# clients without buildx cannot; prefer it where it is installed.
if [ -z "${DOCKER:-}" ]; then
  for candidate in "$(command -v docker || true)" /usr/bin/docker; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && has_buildx "$candidate"; then
      DOCKER=$candidate
      break
    fi
  done
fi
if [ -z "${DOCKER:-}" ]; then
  if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; else DOCKER=$(command -v docker || true); fi
fi
[ -n "$DOCKER" ] && [ -x "$(command -v "$DOCKER")" ] \
  || die "docker is not installed; install Docker (https://docs.docker.com/engine/install/)"
"$DOCKER" info >/dev/null 2>&1 \
  || die "no Docker engine answers ('$DOCKER info' failed); start Docker and retry"

# How the image is built and pushed. SageMaker accepts only Docker v2 schema 2
# manifests (DOCKER_V2 below); an OCI manifest or index, which buildx makes by
# default (its provenance attestation turns the push into an OCI index) and
# which `docker push` can send from an engine using the containerd image store
# (Docker 24+ with the containerd snapshotter), fails there with "Unsupported
# manifest media type". So:
#   buildx     `docker buildx build --provenance=false --sbom=false`, and for a
#              push `--output type=image,name=URI,push=true,oci-mediatypes=false`:
#              BuildKit (or, with buildx's `docker` driver, the engine) pushes one
#              single-platform Docker v2 schema 2 manifest, whichever image store
#              the engine uses. --build-only loads the image with --load.
#   classic    no buildx: `DOCKER_BUILDKIT=1 docker build` with a client that runs
#              BuildKit builds itself (Docker <= 22, e.g. Debian's 20.10), then
#              `docker tag` and `docker push`. The classic image store pushes
#              Docker v2 schema 2. On an engine using the containerd image
#              store this path is refused before anything is built: install the
#              buildx plugin.
# Either way the pushed tag's manifest media type is read back from the
# registry (ECR's DescribeImages, or a registry GET for ECR_REGISTRY) and
# anything but DOCKER_V2 fails the run.
DOCKER_V2=application/vnd.docker.distribution.manifest.v2+json
if has_buildx "$DOCKER"; then builder=buildx; else builder=classic; fi
containerd_store=false
if "$DOCKER" info --format '{{json .DriverStatus}}' 2>/dev/null | grep -q 'io.containerd.snapshotter'; then
  containerd_store=true
fi
if [ "$builder" = classic ] && $containerd_store; then
  die "the Docker engine uses the containerd image store, where 'docker push' can push an OCI index that SageMaker refuses; install the docker buildx plugin (https://docs.docker.com/build/install-buildx/) so the image is pushed as a Docker v2 manifest"
fi

# AWS checks come before the build so a missing credential fails in seconds.
if ! $build_only; then
  command -v aws >/dev/null 2>&1 \
    || die "the AWS CLI is needed to push (pip install awscli); or use --build-only"
  region=${region:-${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region 2>/dev/null || true)}}}
  [ -n "$region" ] || die "no AWS region: pass --region or set AWS_REGION"
  account=$(aws sts get-caller-identity --query Account --output text --region "$region" 2>/dev/null) \
    || die "no usable AWS credentials ('aws sts get-caller-identity' failed); configure them (aws configure) or use --build-only"
fi

local_image="$repository:$tag"
if ! $build_only; then
  registry=${ECR_REGISTRY:-$account.dkr.ecr.$region.amazonaws.com}
  remote_image="$registry/$repository:$tag"

  # The repository and the login come first: with buildx, BuildKit pushes as
  # the last step of the build.
  if ! aws ecr describe-repositories --region "$region" --repository-names "$repository" >/dev/null 2>&1; then
    echo "==> creating ECR repository $repository (scan on push)" >&2
    aws ecr create-repository --region "$region" --repository-name "$repository" \
      --image-scanning-configuration scanOnPush=true >/dev/null \
      || die "could not create ECR repository $repository"
  fi

  echo "==> logging in to $registry" >&2
  password=$(aws ecr get-login-password --region "$region") \
    || die "could not get an ECR login password (aws ecr get-login-password failed)"
  printf '%s' "$password" | "$DOCKER" login --username AWS --password-stdin "$registry" >/dev/null \
    || die "docker login to $registry failed"
fi

build_args=(--platform "$platform" -f "$here/Dockerfile")
[ -n "${BASE_IMAGE:-}" ] && build_args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
if [ -n "${PIP_CERT_FILE:-}" ]; then
  [ -r "$PIP_CERT_FILE" ] || die "PIP_CERT_FILE=$PIP_CERT_FILE is not a readable file"
  build_args+=(--secret "id=pip_cert,src=$PIP_CERT_FILE")
fi
if [ -n "${PIP_CONF_FILE:-}" ]; then
  [ -r "$PIP_CONF_FILE" ] || die "PIP_CONF_FILE=$PIP_CONF_FILE is not a readable file"
  build_args+=(--secret "id=pip_conf,src=$PIP_CONF_FILE")
fi

if [ "$builder" = buildx ]; then
  # buildx before 0.10 has neither flag, and makes no attestations either.
  if "$DOCKER" buildx build --help 2>/dev/null | grep -q -- '--provenance'; then
    build_args+=(--provenance=false --sbom=false)
  fi
  if $build_only; then
    build_args+=(-t "$local_image" --load)
    what=$local_image
  else
    build_args+=(--output "type=image,name=$remote_image,push=true,oci-mediatypes=false")
    what=$remote_image
  fi
  echo "==> building $what for $platform with buildx${BASE_IMAGE:+ on $BASE_IMAGE}" >&2
  "$DOCKER" buildx build "${build_args[@]}" "$here" >&2 \
    || die "docker buildx build failed (see the output above)"
else
  echo "==> building $local_image for $platform${BASE_IMAGE:+ on $BASE_IMAGE}" >&2
  DOCKER_BUILDKIT=1 "$DOCKER" build -t "$local_image" "${build_args[@]}" "$here" >&2 \
    || die "docker build failed (see the output above)"
fi

if $build_only; then
  echo "$local_image"
  "$DOCKER" image inspect --format '{{.Id}}' "$local_image"
  exit 0
fi

if [ "$builder" = classic ]; then
  echo "==> pushing $remote_image" >&2
  "$DOCKER" tag "$local_image" "$remote_image"
  "$DOCKER" push "$remote_image" >&2 || die "docker push to $remote_image failed"
fi

# What the registry now serves for the tag: "<digest> <manifest media type>".
pushed_manifest() {
  if [ -z "${ECR_REGISTRY:-}" ]; then
    aws ecr describe-images --region "$region" --repository-name "$repository" \
      --image-ids "imageTag=$tag" --output text \
      --query 'imageDetails[0].[imageDigest,imageManifestMediaType]' 2>/dev/null
    return
  fi
  # Another registry host (a VPC endpoint, a mirror): ask it as `docker pull`
  # would, offering every manifest type, with the ECR login as Basic auth.
  command -v curl >/dev/null 2>&1 || { echo "curl is needed to check the pushed manifest" >&2; return 1; }
  local accept host schemes scheme headers digest media_type
  accept="application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, $DOCKER_V2, application/vnd.docker.distribution.manifest.list.v2+json"
  host=${registry%%/*}
  schemes=(https)
  # Docker itself talks plain HTTP to registries on loopback addresses.
  case "${host%:*}" in localhost|127.*|\[::1\]) schemes+=(http) ;; esac
  for scheme in "${schemes[@]}"; do
    if headers=$(printf 'user = "AWS:%s"\n' "$password" | curl -fsS --max-time 60 -K - \
        -o /dev/null -D - -H "Accept: $accept" \
        "$scheme://$registry/v2/$repository/manifests/$tag" 2>/dev/null); then
      headers=$(printf '%s\n' "$headers" | tr -d '\r')
      digest=$(printf '%s\n' "$headers" | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: *//p' | tail -n1)
      media_type=$(printf '%s\n' "$headers" | sed -n 's/^[Cc]ontent-[Tt]ype: *//p' | tail -n1 | cut -d';' -f1)
      printf '%s %s\n' "${digest:-unknown-digest}" "$media_type"
      return
    fi
  done
  return 1
}
read -r digest media_type < <(pushed_manifest || true) || true
[ -n "${media_type:-}" ] && [ "$media_type" != None ] \
  || die "could not read the manifest media type of $remote_image back from the registry"
[ "$media_type" = "$DOCKER_V2" ] \
  || die "$remote_image was pushed as $media_type, which SageMaker refuses (\"Unsupported manifest media type\"); it needs $DOCKER_V2 (see the builder notes in build_and_push.sh)"
echo "$remote_image"
echo "${digest:-unknown-digest}"
