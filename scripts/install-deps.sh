#!/bin/sh
# The Debian packages emperor and its test suite need (run as root on Debian 12).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential python3 \
  uwsgi-core uwsgi-plugin-python3 \
  fuse3 fuse-zip unionfs-fuse busybox-static zip \
  iproute2 procps util-linux acl \
  etcd-server etcd-client postgresql uwsgi-plugin-emperor-pg \
  clang-format >/dev/null
