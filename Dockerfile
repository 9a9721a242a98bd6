# The container action: a static nix-deploy on an image that has Nix.
#
# Both base images are build arguments so that tests (which cannot pull from a
# registry) substitute locally built ones; the defaults are what GitHub's runner
# builds when a workflow says `uses: nix-deploy-action/nix-deploy-action@v1`.
# The runner runs `docker build` without build arguments, so the defaults must
# stay self-sufficient.
ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=nixos/nix:2.28.5

FROM ${GO_IMAGE} AS build
# GOPROXY is an argument for builds behind a corporate or local module proxy.
ARG GOPROXY=https://proxy.golang.org,direct
ARG VERSION=dev
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOPROXY=${GOPROXY}
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath \
      -ldflags "-s -w -X github.com/nix-deploy-action/nix-deploy-action/internal/cli.Version=${VERSION}" \
      -o /out/nix-deploy ./cmd/nix-deploy \
 && /out/nix-deploy --version

FROM ${BASE_IMAGE}
# Flakes are experimental in every Nix we support. /etc/nix/nix.conf can be a
# link into the read-only store, so it is replaced by a copy before appending.
# The runner mounts the checkout at /github/workspace owned by the runner's
# uid, not root: without safe.directory git (and so every flake evaluation of
# a git checkout) refuses it. It goes in the system gitconfig because HOME is
# the runner's /github/home, not /root.
RUN set -eu; \
    mkdir -p /etc/nix; \
    if [ -L /etc/nix/nix.conf ]; then cp --remove-destination "$(readlink -f /etc/nix/nix.conf)" /etc/nix/nix.conf; fi; \
    if ! grep -qs '^experimental-features.*flakes' /etc/nix/nix.conf; then \
      echo 'experimental-features = nix-command flakes' >> /etc/nix/nix.conf; \
    fi; \
    git config --system --add safe.directory '*'; \
    nix --version; git --version
COPY --from=build /out/nix-deploy /usr/local/bin/nix-deploy
ENV PATH=/usr/local/bin:${PATH}
# No USER: the runner expects container actions to run as root. No WORKDIR:
# the runner sets --workdir /github/workspace.
ENTRYPOINT ["/usr/local/bin/nix-deploy", "action"]
