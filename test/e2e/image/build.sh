#!/bin/sh
# Builds the end-to-end guest: a Debian amd64 root filesystem made with
# mmdebstrap, turned into an ext4 disk image that QEMU boots directly with the
# kernel and initrd copied out of it. One recipe, two releases: Debian 13
# (trixie, the current stable) and Debian 12 (bookworm).
#
# Usage: build.sh OUTPUT_DIR SUITE        (SUITE: trixie or bookworm)
# Output: OUTPUT_DIR/{disk.raw,vmlinuz,initrd.img}
#
# The image is cached: the caller keys OUTPUT_DIR by the suite and the hash of
# this recipe (see imageRecipeHash in ../image.go), so a changed recipe builds
# a new image.
#
# The root filesystem is built from the plain suite while its apt sources
# also list SUITE-updates and SUITE-security, so that an upgrade
# inside the guest finds real newer packages, as it would on a cloud image
# that is a few weeks old. The kernel is held (apt-mark hold): the VM boots the
# kernel copied out of the image, so a kernel upgrade inside the guest could
# never be booted, and building its initramfs under TCG costs minutes.
set -eu

out=${1:?usage: build.sh OUTPUT_DIR SUITE}
suite=${2:?usage: build.sh OUTPUT_DIR SUITE}
mirror=${AMIH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${AMIH_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
size=${AMIH_DISK_SIZE:-4G}

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/amih-image.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
root=$work/root

packages="systemd-sysv,dbus,udev,kmod,procps,iproute2,ifupdown,isc-dhcp-client,netbase,\
openssh-server,sudo,cloud-init,python3-cffi-backend,postfix,auditd,cron,logrotate,\
linux-image-cloud-amd64,initramfs-tools,qemu-guest-agent,ca-certificates,git,less,bsd-mailx,\
e2fsprogs,xfsprogs"
# e2fsprogs: every cloud image of an ext4 root has it (resize2fs grows the
# root at first boot); free_space's sparse mode takes filefrag from it.
# xfsprogs: as on the XFS roots of Amazon Linux and RHEL (xfs_io sets the
# reserve pool), for TestFreeSpaceOnXFS's data disk.
# What each release logs to, as its own installations do: Debian 12 installs
# rsyslog (/var/log/syslog, auth.log); Debian 13 has the journal only, and its
# login records in SQLite: wtmpdb (/var/log/wtmp.db, priority standard, with
# its PAM module) and lastlog2 (/var/lib/lastlog/lastlog2.db).
case $suite in
bookworm) packages="$packages,rsyslog" ;;
trixie) packages="$packages,wtmpdb,libpam-wtmpdb,lastlog2,libpam-lastlog2" ;;
*) echo "build.sh: unknown suite $suite (trixie or bookworm)" >&2; exit 2 ;;
esac

printf 'postfix postfix/main_mailer_type select Satellite system\npostfix postfix/mailname string guest.e2e.invalid\npostfix postfix/relayhost string [127.0.0.1]:2525\n' > "$work/debconf"

# shellcheck disable=SC2016 # $1 is expanded by mmdebstrap's hook shell
mmdebstrap --variant=minbase --include="$packages" \
  --skip=cleanup/apt/lists \
  --setup-hook='mkdir -p "$1/etc/apt/sources.list.d"' \
  --essential-hook="chroot \"\$1\" debconf-set-selections < '$work/debconf'" \
  --customize-hook="sh '$here/customize.sh' \"\$1\" '$suite' '$mirror' '$security_mirror'" \
  "$suite" "$root" "$mirror"

mkdir -p "$out"
cp "$root"/boot/vmlinuz-* "$out/vmlinuz"
cp "$root"/boot/initrd.img-* "$out/initrd.img"
rm -f "$out/disk.raw"
mkfs.ext4 -q -F -L root -d "$root" "$out/disk.raw" "$size"
