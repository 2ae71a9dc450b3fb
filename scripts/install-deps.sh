#!/bin/sh
# Installs the Debian packages that the e2e test bed and the guest-script tests
# need, when they are missing (run as root on Debian).
set -eu
need=
for pair in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils mmdebstrap:mmdebstrap \
	mkfs.ext4:e2fsprogs debugfs:e2fsprogs cloud-localds:cloud-image-utils shellcheck:shellcheck \
	busybox:busybox dash:dash ssh-keygen:openssh-client mkfs.xfs:xfsprogs xfs_io:xfsprogs mkfs.btrfs:btrfs-progs; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || need="$need ${pair#*:}"
done
[ -n "$need" ] || exit 0
if [ "$(id -u)" != 0 ]; then
	echo "missing packages:$need (run as root, or apt-get install them)" >&2
	exit 1
fi
echo "installing:$need"
apt-get update -qq
# shellcheck disable=SC2086 # a list of package names
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
