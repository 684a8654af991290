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
#   DOCKER            docker client to use (default: one that runs BuildKit builds)
#   ECR_REGISTRY      push to this registry host instead of the account's
#                     <account>.dkr.ecr.<region>.amazonaws.com (VPC endpoints, mirrors)
#   AWS_ENDPOINT_URL  honoured by the AWS CLI (e.g. an emulator)
#
# Prints the full image URI and its digest on the last two lines.
set -euo pipefail

die() { echo "build_and_push.sh: error: $*" >&2; exit 1; }
usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }

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
# The Debian 20.10 client runs BuildKit builds without the buildx plugin that
# newer clients need; prefer it where it is installed.
if [ -z "${DOCKER:-}" ]; then
  if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; else DOCKER=$(command -v docker || true); fi
fi
[ -n "$DOCKER" ] && [ -x "$(command -v "$DOCKER")" ] \
  || die "docker is not installed; install Docker (https://docs.docker.com/engine/install/)"
"$DOCKER" info >/dev/null 2>&1 \
  || die "no Docker engine answers ('$DOCKER info' failed); start Docker and retry"

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
build_args=(--platform "$platform" -t "$local_image" -f "$here/Dockerfile")
[ -n "${BASE_IMAGE:-}" ] && build_args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
if [ -n "${PIP_CERT_FILE:-}" ]; then
  [ -r "$PIP_CERT_FILE" ] || die "PIP_CERT_FILE=$PIP_CERT_FILE is not a readable file"
  build_args+=(--secret "id=pip_cert,src=$PIP_CERT_FILE")
fi
if [ -n "${PIP_CONF_FILE:-}" ]; then
  [ -r "$PIP_CONF_FILE" ] || die "PIP_CONF_FILE=$PIP_CONF_FILE is not a readable file"
  build_args+=(--secret "id=pip_conf,src=$PIP_CONF_FILE")
fi

echo "==> building $local_image for $platform${BASE_IMAGE:+ on $BASE_IMAGE}" >&2
DOCKER_BUILDKIT=1 "$DOCKER" build "${build_args[@]}" "$here" >&2 \
  || die "docker build failed (see the output above)"

if $build_only; then
  echo "$local_image"
  "$DOCKER" image inspect --format '{{.Id}}' "$local_image"
  exit 0
fi

registry=${ECR_REGISTRY:-$account.dkr.ecr.$region.amazonaws.com}
remote_image="$registry/$repository:$tag"

if ! aws ecr describe-repositories --region "$region" --repository-names "$repository" >/dev/null 2>&1; then
  echo "==> creating ECR repository $repository (scan on push)" >&2
  aws ecr create-repository --region "$region" --repository-name "$repository" \
    --image-scanning-configuration scanOnPush=true >/dev/null \
    || die "could not create ECR repository $repository"
fi

echo "==> logging in to $registry" >&2
aws ecr get-login-password --region "$region" \
  | "$DOCKER" login --username AWS --password-stdin "$registry" >/dev/null \
  || die "docker login to $registry failed"

echo "==> pushing $remote_image" >&2
"$DOCKER" tag "$local_image" "$remote_image"
"$DOCKER" push "$remote_image" >&2 || die "docker push to $remote_image failed"
digest=$("$DOCKER" image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$remote_image" \
  | grep -F "$registry/$repository@" | head -n1 | cut -d@ -f2)
echo "$remote_image"
echo "${digest:-unknown-digest}"
