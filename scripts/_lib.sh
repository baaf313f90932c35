# shellcheck shell=bash
# Shared helpers for scripts/setup-system, scripts/pg-test-db, scripts/test and scripts/dev.
# Source it; don't run it. Every helper is idempotent and fast when there is nothing to do.

DMA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DMA_ROOT

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf '\n!!!!!!!! WARNING: %s\n\n' "$*" >&2; }
die() {
  printf 'ERROR: %s\n' "$*" >&2
  exit 1
}

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [[ ${EUID:-$(id -u)} -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -- "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# Run a command as the postgres OS user.
as_postgres() {
  if [[ ${EUID:-$(id -u)} -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    sudo -u postgres -- "$@"
  fi
}

# ---------------------------------------------------------------------------
# apt
# ---------------------------------------------------------------------------

pkg_installed() {
  local st
  st="$(dpkg -s "$1" 2>/dev/null)" || return 1
  grep -qx 'Status: install ok installed' <<<"$st"
}

# ensure_apt_packages PKG...: install the packages that are missing; `apt-get update` only if needed.
ensure_apt_packages() {
  local missing=() p
  for p in "$@"; do
    pkg_installed "$p" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq || die "apt-get update failed"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" \
    >/tmp/dma-apt-install.log 2>&1; then
    tail -n 60 /tmp/dma-apt-install.log >&2
    die "apt-get install ${missing[*]} failed (full log: /tmp/dma-apt-install.log)"
  fi
  for p in "${missing[@]}"; do
    pkg_installed "$p" || die "package $p still not installed after apt-get install"
  done
}

# ---------------------------------------------------------------------------
# PostgreSQL (Debian's postgresql-common cluster layout)
# ---------------------------------------------------------------------------

# Highest PostgreSQL major version with a cluster config in /etc/postgresql (or, failing that, installed).
pg_version() {
  local v
  v="$(find /etc/postgresql -mindepth 2 -maxdepth 2 -type d -name main 2>/dev/null |
    awk -F/ '{print $4}' | sort -V | tail -n 1)"
  if [[ -z $v ]]; then
    v="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -type f -name postgres 2>/dev/null |
      awk -F/ '{print $5}' | sort -V | tail -n 1)"
  fi
  [[ -n $v ]] || die "no PostgreSQL server installed (no /etc/postgresql/*/main, no /usr/lib/postgresql/*/bin/postgres)"
  printf '%s\n' "$v"
}

# Port of cluster <ver>/<name> (default: the newest version's "main"), from its config.
pg_port() {
  local v="${1:-$(pg_version)}" name="${2:-main}" port
  port="$(pg_lsclusters -h 2>/dev/null | awk -v v="$v" -v n="$name" '$1 == v && $2 == n {print $3}')"
  if [[ -z $port ]]; then
    port="$(sed -nE 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*([0-9]+).*/\1/p' \
      "/etc/postgresql/$v/$name/postgresql.conf" 2>/dev/null | tail -n 1)"
  fi
  printf '%s\n' "${port:-5432}"
}

# Start cluster <ver>/<name> (default "main") if it is down (creating it if missing; a new cluster other than main
# gets the port given, or the next free one) and wait until it accepts connections.
pg_ensure_running() {
  local name="${1:-main}" new_port="${2:-}" v port status i
  v="$(pg_version)"
  if [[ ! -d /etc/postgresql/$v/$name ]]; then
    log "creating PostgreSQL $v cluster '$name'"
    as_root pg_createcluster "$v" "$name" ${new_port:+--port "$new_port"} >/dev/null ||
      die "pg_createcluster $v $name failed"
  fi
  port="$(pg_port "$v" "$name")"
  status="$(pg_lsclusters -h 2>/dev/null | awk -v v="$v" -v n="$name" '$1 == v && $2 == n {print $4}')"
  if [[ $status != online* ]]; then
    log "starting PostgreSQL $v/$name (port $port)"
    # </dev/null: never hand our stdin to the server.
    if ! as_root pg_ctlcluster "$v" "$name" start </dev/null; then
      tail -n 30 "/var/log/postgresql/postgresql-$v-$name.log" >&2 || true
      die "pg_ctlcluster $v $name start failed"
    fi
  fi
  for ((i = 0; i < 60; i++)); do
    if pg_isready -q -h 127.0.0.1 -p "$port" -t 2; then
      return 0
    fi
    sleep 1
  done
  tail -n 30 "/var/log/postgresql/postgresql-$v-$name.log" >&2 || true
  die "PostgreSQL $v/$name is not accepting connections on 127.0.0.1:$port after 60 s"
}

# ---------------------------------------------------------------------------
# Python virtualenv (.venv) with the project installed editable: runtime deps for scripts/dev, test extras on top
# for scripts/test. Each install is recorded in a stamp (pyproject hash + Python version), so a second run is instant.
# ---------------------------------------------------------------------------

DMA_VENV="$DMA_ROOT/.venv"

_dma_python() {
  local py="${DMA_PYTHON:-python3}"
  command -v "$py" >/dev/null 2>&1 || die "$py not found (set DMA_PYTHON to a Python >= 3.11)"
  "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' ||
    die "$py is $("$py" --version 2>&1); dma needs Python >= 3.11 (set DMA_PYTHON)"
  printf '%s\n' "$py"
}

# What a stamp records: the pyproject hash plus the venv's interpreter version.
_dma_install_key() {
  printf '%s %s\n' \
    "$(sha256sum "$DMA_ROOT/pyproject.toml" | awk '{print $1}')" \
    "$("$DMA_VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')"
}

_dma_stamp() { printf '%s/.dma-installed-%s\n' "$DMA_VENV" "$1"; }

_dma_stamp_matches() { [[ -f "$(_dma_stamp "$1")" && "$(cat "$(_dma_stamp "$1")")" == "$2" ]]; }

# Whether the install of <what> (runtime | test) is current; a current test install includes the runtime one.
_dma_installed() {
  local what="$1" key="$2"
  _dma_stamp_matches "$what" "$key" && return 0
  [[ $what == runtime ]] && _dma_stamp_matches test "$key"
}

# pip install with one line per package as it is collected, so a first run shows progress; the full output goes to
# .venv/.dma-install.log.
_dma_pip_install() {
  local spec="$1" log="$DMA_VENV/.dma-install.log" started=$SECONDS
  if ! (cd "$DMA_ROOT" && "$DMA_VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
    -e "$spec" 2>&1) | tee "$log" | while IFS= read -r line; do
    case $line in
    Collecting* | Downloading*) printf '    %s\n' "${line:0:110}" >&2 ;;
    esac
  done; then
    tail -n 40 "$log" >&2
    die "pip install -e '$spec' failed (log above, all of it in .venv/.dma-install.log)"
  fi
  log "installed $(grep '^Successfully installed' "$log" | wc -w | awk '{print ($1 > 2 ? $1 - 2 : 0)}') packages in $((SECONDS - started)) s"
}

# ensure_venv [runtime|test]: create .venv if missing (or broken) and install dma (runtime: what `dma dev` needs;
# test: plus the test extras) when pyproject.toml changed since the last install of that kind.
ensure_venv() {
  local what="${1:-test}" py key lockfd spec
  mkdir -p "$DMA_VENV"
  # Serialize concurrent scripts/test and scripts/dev runs on the same tree.
  exec {lockfd}>"$DMA_VENV/.dma-install.lock"
  flock "$lockfd"
  if [[ -e $DMA_VENV/bin/python ]] && ! "$DMA_VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log ".venv's interpreter is broken; recreating .venv"
    find "$DMA_VENV" -mindepth 1 -maxdepth 1 ! -name .dma-install.lock -exec rm -rf {} +
  fi
  if [[ ! -x $DMA_VENV/bin/python ]]; then
    py="$(_dma_python)"
    log "creating .venv with $py ($("$py" --version 2>&1))"
    "$py" -m venv "$DMA_VENV" || die "python -m venv failed (on Debian's own python3: apt-get install python3-venv)"
  fi
  key="$(_dma_install_key)"
  if _dma_installed "$what" "$key" && [[ -x $DMA_VENV/bin/dma && ($what == runtime || -x $DMA_VENV/bin/pytest) ]]; then
    exec {lockfd}>&-
    return 0
  fi
  if [[ $what == test ]]; then
    spec='.[test]'
    log "installing dma with its test extras into .venv (pip install -e '.[test]')"
  else
    spec='.'
    log "installing dma and what it needs to run into .venv (pip install -e .; the first time takes a minute or two)"
  fi
  rm -f "$(_dma_stamp "$what")" "$DMA_VENV/.dma-installed" # (the single stamp of older scripts)
  _dma_pip_install "$spec"
  printf '%s\n' "$key" >"$(_dma_stamp "$what")"
  exec {lockfd}>&-
}
