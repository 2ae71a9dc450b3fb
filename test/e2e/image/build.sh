#!/bin/sh
# Builds the end-to-end guest: a Debian 12 (bookworm) amd64 root filesystem
# made with mmdebstrap, turned into an ext4 disk image that QEMU boots
# directly with the kernel and initrd copied out of it.
#
# Usage: build.sh OUTPUT_DIR
# Output: OUTPUT_DIR/{disk.raw,vmlinuz,initrd.img,recipe.sha256}
#
# The image is cached: the caller keys OUTPUT_DIR by the hash of this recipe
# (see recipe_hash in ../vm.go), so a changed recipe builds a new image.
#
# The root filesystem is built from the plain `bookworm` suite while its apt
# sources also list bookworm-updates and bookworm-security, so that an upgrade
# inside the guest finds real newer packages, as it would on a cloud image
# that is a few weeks old. The kernel is held (apt-mark hold): the VM boots the
# kernel copied out of the image, so a kernel upgrade inside the guest could
# never be booted, and building its initramfs under TCG costs minutes.
set -eu

out=${1:?usage: build.sh OUTPUT_DIR}
mirror=${AMIH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${AMIH_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
size=${AMIH_DISK_SIZE:-4G}

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/amih-image.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
root=$work/root

packages="systemd-sysv,dbus,udev,kmod,procps,iproute2,ifupdown,isc-dhcp-client,netbase,\
openssh-server,sudo,cloud-init,python3-cffi-backend,postfix,rsyslog,auditd,cron,logrotate,\
linux-image-cloud-amd64,initramfs-tools,qemu-guest-agent,ca-certificates,git,less,bsd-mailx"

printf 'postfix postfix/main_mailer_type select Satellite system\npostfix postfix/mailname string guest.e2e.invalid\npostfix postfix/relayhost string [127.0.0.1]:2525\n' > "$work/debconf"

# shellcheck disable=SC2016 # $1 is expanded by mmdebstrap's hook shell
mmdebstrap --variant=minbase --include="$packages" \
  --skip=cleanup/apt/lists \
  --setup-hook='mkdir -p "$1/etc/apt/sources.list.d"' \
  --essential-hook="chroot \"\$1\" debconf-set-selections < '$work/debconf'" \
  --customize-hook="sh '$here/customize.sh' \"\$1\" '$mirror' '$security_mirror'" \
  bookworm "$root" "$mirror"

mkdir -p "$out"
cp "$root"/boot/vmlinuz-* "$out/vmlinuz"
cp "$root"/boot/initrd.img-* "$out/initrd.img"
rm -f "$out/disk.raw"
mkfs.ext4 -q -F -L root -d "$root" "$out/disk.raw" "$size"
