#!/usr/bin/env bash
# Recipe of the test images' base: Debian 12 (bookworm) minbase made with debootstrap and
# imported with `docker import` (no registry is needed or used).
# Usage: images/test/base.sh TAG      (scripts/images.sh calls it; needs root, debootstrap)
# scripts/images.sh tags the result pulp-init-test/base:<hash of this file>, so changing
# anything here (suite, mirror, packages) rebuilds the base, and nothing else does.
set -euo pipefail
tag=$1
suite=bookworm
mirror=http://deb.debian.org/debian
# ca-certificates: pip and apt over https in the image builds on top.
include=ca-certificates
dir=$(mktemp -d /var/tmp/pulp-init-base.XXXXXX)
trap 'rm -rf "$dir"' EXIT
debootstrap --variant=minbase --include="$include" "$suite" "$dir" "$mirror" >&2
# What a registry base image leaves out: apt caches, docs, logs of the bootstrap.
rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
  "$dir"/var/log/bootstrap.log "$dir"/usr/share/doc/* "$dir"/usr/share/man/*
printf 'deb %s %s main\ndeb %s %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
  "$mirror" "$suite" "$mirror" "$suite" "$suite" >"$dir/etc/apt/sources.list"
# The host's own certificate authorities (/usr/local/share/ca-certificates: e.g. a proxy that
# inspects TLS), so pip and apt in the image builds trust what the host trusts. Their content
# is part of the base's hash (scripts/images.sh).
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
  chroot "$dir" update-ca-certificates >/dev/null
fi
# Keep package installs in image builds from starting services (as Debian's docker images do).
printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
chmod 755 "$dir/usr/sbin/policy-rc.d"
tar --numeric-owner -C "$dir" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
