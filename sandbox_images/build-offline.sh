#!/usr/bin/env bash
# Build the docker backend's sandbox image (dma-sandbox:latest) without any image registry:
#   debootstrap a minimal Debian from the apt mirror this host already uses, `docker import` it as
#   dma-sandbox-base:latest, then `docker build` Dockerfile.offline on top (adds the uid-1000 user).
# Idempotent: skips everything when dma-sandbox:latest exists with the label of the current build inputs.
# Env: DMA_SANDBOX_IMAGE (default dma-sandbox:latest), DMA_DEBIAN_MIRROR (default: read from apt's sources),
#      DMA_DEBIAN_SUITE (default bookworm), DMA_SANDBOX_REBUILD=1 to force a rebuild.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGE="${DMA_SANDBOX_IMAGE:-dma-sandbox:latest}"
BASE_IMAGE="dma-sandbox-base:latest"
SUITE="${DMA_DEBIAN_SUITE:-bookworm}"
INCLUDE="bash,coreutils,git,ripgrep,curl,python3,ca-certificates"

say() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'ERROR: %s\n' "$*" >&2
  exit 1
}

# The first Debian archive URI apt uses for $SUITE, from deb822 .sources files or one-line .list files.
debian_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk -v suite="$SUITE" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; ok = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uris = u[1] }
          if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
        }
        if (ok && uris != "") { print uris; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    # deb [options] URI suite components...
    sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }'
  done
}

inputs_hash() {
  {
    printf '%s\n%s\n' "$SUITE" "$INCLUDE"
    cat "$HERE/build-offline.sh" "$HERE/Dockerfile.offline" "$HERE/user-setup.sh"
  } | sha256sum | awk '{print $1}'
}

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "no Docker engine answers 'docker info'"

HASH="$(inputs_hash)"
current="$(docker image inspect "$IMAGE" --format '{{ index .Config.Labels "dma.inputs-hash" }}' 2>/dev/null || true)"
if [[ $current == "$HASH" && ${DMA_SANDBOX_REBUILD:-0} != 1 ]]; then
  say "$IMAGE is up to date (inputs $HASH)"
  exit 0
fi

if [[ ${DMA_SANDBOX_REBUILD:-0} == 1 ]] || ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 ||
  [[ "$(docker image inspect "$BASE_IMAGE" --format '{{ index .Config.Labels "dma.include" }}' 2>/dev/null)" != "$SUITE:$INCLUDE" ]]; then
  command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"
  MIRROR="${DMA_DEBIAN_MIRROR:-$(debian_mirror | head -n 1)}"
  [[ -n $MIRROR ]] || die "no Debian mirror for '$SUITE' in /etc/apt/sources.list*; set DMA_DEBIAN_MIRROR"
  ROOTFS="$(mktemp -d /var/tmp/dma-sandbox-rootfs.XXXXXX)"
  trap 'rm -rf "$ROOTFS"' EXIT
  say "debootstrap $SUITE from $MIRROR (minbase + $INCLUDE)"
  if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1; then
    tail -n 40 "$ROOTFS.log" >&2
    die "debootstrap failed (log: $ROOTFS.log)"
  fi
  rm -f "$ROOTFS.log"
  # Lean image: no apt lists, caches, docs or man pages.
  rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/*
  say "importing $BASE_IMAGE"
  tar -C "$ROOTFS" --numeric-owner -c . |
    docker import --change "LABEL dma.include=$SUITE:$INCLUDE" --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$ROOTFS"
  trap - EXIT
fi

say "building $IMAGE"
docker build -q --build-arg "DMA_INPUTS_HASH=$HASH" -f "$HERE/Dockerfile.offline" -t "$IMAGE" "$HERE" >/dev/null
say "$IMAGE built (inputs $HASH)"
