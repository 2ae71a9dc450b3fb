#!/bin/sh
# mmdebstrap customize hook for the end-to-end guest (see build.sh).
# Usage: customize.sh ROOTFS SUITE MIRROR SECURITY_MIRROR
set -eu
root=$1 suite=$2 mirror=$3 security_mirror=$4

# apt sources: the release plus its updates and security suites.
rm -f "$root/etc/apt/sources.list"
cat > "$root/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
# No translations (half of what `apt-get update` fetches), then fetch the lists
# of all three suites now, so that the guest's own `apt-get update` mostly
# gets "not modified" answers; nothing is upgraded here.
echo 'Acquire::Languages "none";' > "$root/etc/apt/apt.conf.d/99no-translations"
chroot "$root" apt-get -q update >/dev/null

chroot "$root" apt-mark hold linux-image-cloud-amd64 "$(basename "$root"/boot/vmlinuz-* | sed 's/^vmlinuz/linux-image/')" >/dev/null

# Bring the image up to date but for the three smallest upgradable packages:
# the guest's upgrade then finds real newer packages from the updates and
# security suites (as a cloud image a few weeks old would), and takes seconds
# under TCG instead of the many minutes perl, python and libc would.
pending=$(chroot "$root" apt-get -s -o Debug::NoLocking=1 dist-upgrade | awk '$1 == "Inst" { print $2 }')
keep=$(for p in $pending; do
	# shellcheck disable=SC2016 # dpkg-query's format, not a shell expansion
	printf '%s %s\n' "$(chroot "$root" dpkg-query -W -f='${Installed-Size}' "$p")" "$p"
done | sort -n | head -n 3 | awk '{ print $2 }')
if [ -n "$keep" ]; then
	# shellcheck disable=SC2086 # lists of package names
	chroot "$root" apt-mark hold $keep >/dev/null
	DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -q -y dist-upgrade >/dev/null
	# shellcheck disable=SC2086
	chroot "$root" apt-mark unhold $keep >/dev/null
fi
chroot "$root" apt-get clean

echo guest > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 guest\n' > "$root/etc/hosts"
printf '/dev/vda / ext4 defaults,errors=remount-ro 0 1\n' > "$root/etc/fstab"

# Network: DHCP on the first virtio NIC, as cloud-init's fallback would write.
mkdir -p "$root/etc/network/interfaces.d"
printf 'auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n' > "$root/etc/network/interfaces"

# cloud-init: NoCloud only (never probe cloud metadata services), default
# user `admin` as on Debian's AMIs, leave apt sources alone. No growpart or
# resize2fs: the disk has no partition table (QEMU boots the ext4 image
# directly), and Debian 13's cloud-init (25.1) fails its resize2fs module on
# it, which the plugin rightly refuses as a failed cloud-init.
cat > "$root/etc/cloud/cloud.cfg.d/01-e2e.cfg" <<'CFG'
datasource_list: [ NoCloud, None ]
locale: C.UTF-8
resize_rootfs: false
growpart:
  mode: "off"
apt:
  preserve_sources_list: true
system_info:
  default_user:
    name: admin
    lock_passwd: true
    gecos: Debian
    groups: [adm, sudo]
    sudo: ["ALL=(ALL) NOPASSWD:ALL"]
    shell: /bin/bash
CFG

# postfix: satellite relaying to a closed port on the guest itself, so mail to
# any other domain stays queued (deferred, connection refused) and nothing ever
# leaves the guest; no DNS lookups.
# shellcheck disable=SC2016 # $myhostname is postfix's, not ours
chroot "$root" postconf -e 'relayhost = [127.0.0.1]:2525' 'inet_interfaces = loopback-only' \
  'mydestination = $myhostname, guest, localhost.localdomain, localhost' \
  'smtp_dns_support_level = disabled' 'myhostname = guest.e2e.invalid'

# Under TCG, postfix's start (many short processes) can outlast systemd's
# default 90 s start timeout.
mkdir -p "$root/etc/systemd/system/postfix@.service.d"
printf '[Service]\nTimeoutStartSec=10min\n' > "$root/etc/systemd/system/postfix@.service.d/e2e-timeout.conf"

# Serial console login for debugging; the kernel logs there too.
chroot "$root" systemctl enable serial-getty@ttyS0.service >/dev/null 2>&1 || true
# No time sync to outside servers (minbase has no timesyncd; make sure).
chroot "$root" systemctl mask systemd-timesyncd.service >/dev/null 2>&1 || true
