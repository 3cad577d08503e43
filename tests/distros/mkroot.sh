#!/bin/sh
# Create (if missing) a minimal Debian root filesystem for a release, with
# what building and testing conc needs, using Debian's own debootstrap.
# usage: tests/distros/mkroot.sh RELEASE DIR
# Needs root and the debootstrap package; about 500 MB and a few minutes.
set -eu
rel=$1 dir=$2
pkgs=gcc,make,libc6-dev,liburing-dev,libcriterion-dev,pkg-config,mandoc
if [ -x "$dir/usr/bin/make" ] && [ -e "$dir/.conc-root-ok" ]; then
	exit 0
fi
command -v debootstrap >/dev/null ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null ||
	{ echo "mkroot: debootstrap is missing (apt-get install debootstrap)" >&2; exit 2; }
mkdir -p "$dir"
# --variant=minbase: no init system or editors; the packages above pull in
# the compiler and the test framework.
# debootstrap's own default mirror unless DEBIAN_MIRROR names one.
nice debootstrap --variant=minbase --include="$pkgs" "$rel" "$dir" ${DEBIAN_MIRROR:-}
touch "$dir/.conc-root-ok"
