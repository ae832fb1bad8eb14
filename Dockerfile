# syntax=docker/dockerfile:1
#
# statepack's container image. `make image` builds the equivalent of the release stage as an OCI layout without
# Docker (internal/tools/image). Stages:
#
#   release  the image to publish and run: distroless static, non-root (65532:65532), the static binary and the CA
#            bundle only.   docker build --target release --build-arg VERSION=v0.1.0 -t statepack .
#   debug    release with a busybox shell at /bin/sh, for the Tekton Task's script step (tekton/statepack.yaml).
#            docker build --target debug -t statepack:debug .
#   action   the last stage, which GitHub builds for the action (action.yml: image: Dockerfile): the release image
#            running as root. GitHub runs Docker actions with GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and the workspace
#            owned by the runner's user on the host; a non-root USER cannot write them ("Docker actions must be run
#            by the default Docker user (root)" — GitHub's Dockerfile support for actions).
#
# The base images are tags here; pin them by digest when a release process exists to update them.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS builder
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# GO_TAGS=kms links the cloud KMS providers (awskms://, gcpkms://, azurekms://, hashivault:// keys; +14 MB):
# docker build --build-arg GO_TAGS=kms --target release -t statepack:kms .
ARG GO_TAGS=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -tags "${GO_TAGS}" -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/statepack ./cmd/statepack

FROM gcr.io/distroless/static-debian12:nonroot AS release
ARG VERSION=dev
LABEL org.opencontainers.image.title="statepack" \
      org.opencontainers.image.description="Publish a GitOps repository's desired state as a signed, reproducible OCI artifact" \
      org.opencontainers.image.source="https://github.com/statepack/statepack" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=builder /out/statepack /usr/local/bin/statepack
USER 65532:65532
ENTRYPOINT ["statepack"]

FROM gcr.io/distroless/static-debian12:debug-nonroot AS debug
ARG VERSION=dev
LABEL org.opencontainers.image.title="statepack (debug: with a shell)" \
      org.opencontainers.image.source="https://github.com/statepack/statepack" \
      org.opencontainers.image.version="${VERSION}"
USER 0:0
# Distroless debug images keep busybox under /busybox only; Tekton runs scripts with /bin/sh.
RUN ["/busybox/ln", "-s", "/busybox/sh", "/bin/sh"]
COPY --from=builder /out/statepack /usr/local/bin/statepack
USER 65532:65532
ENTRYPOINT ["statepack"]

FROM release AS action
USER 0:0
