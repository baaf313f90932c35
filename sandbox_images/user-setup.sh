#!/bin/sh
# Shared by Dockerfile and Dockerfile.offline: the unprivileged sandbox user (uid/gid 1000) and its workspace.
set -eu
getent group 1000 >/dev/null || groupadd --gid 1000 sandbox
getent passwd 1000 >/dev/null || useradd --uid 1000 --gid 1000 --home-dir /workspace --shell /bin/bash sandbox
mkdir -p /workspace
chown 1000:1000 /workspace
chmod 0755 /workspace
# Nothing in the image may give the sandbox user a way back to root.
find / -xdev -perm /6000 -type f -exec chmod ug-s {} + 2>/dev/null || true
