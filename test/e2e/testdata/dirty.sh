#!/bin/sh
# Makes the guest dirty the way a real build does. Runs as root through an
# ordinary Packer `shell` provisioner, before `provisioner "ami-hygiene"`.
set -eu
export DEBIAN_FRONTEND=noninteractive

# install_service NAME DESCRIPTION TYPE EXEC: install, enable and start a unit
# wanted at every boot.
install_service() {
	printf '[Unit]\nDescription=e2e: %s\n[Service]\nType=%s\nExecStart=%s\n[Install]\nWantedBy=multi-user.target\n' \
		"$2" "$3" "$4" > "/etc/systemd/system/$1.service"
	systemctl daemon-reload
	systemctl enable --now "$1.service"
}

# A harness-owned record of every boot (independent of the plugin), and of
# the build's identity, to compare the clones with.
mkdir -p /var/lib/e2e
install_service e2e-boots "record this boot's id" oneshot "/bin/sh -c 'cat /proc/sys/kernel/random/boot_id >> /var/lib/e2e/boots'"
cp /etc/machine-id /var/lib/e2e/build-machine-id
cp /etc/ssh/ssh_host_ed25519_key.pub /var/lib/e2e/build-hostkey.pub

# Two more users with a login shell, a third one without a password, and a
# root password.
for u in alice bob carol; do id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"; done
passwd -d carol >/dev/null
echo 'root:e2e-root-password' | chpasswd

# Build leftovers: temporary files, rotated logs.
echo artifact > /tmp/build-artifact.tar
mkdir -p /var/tmp/build-cache && echo cache > /var/tmp/build-cache/blob
echo old > /var/log/e2e-app.log.1
echo old | gzip > /var/log/e2e-app.log.2.gz

# Shell histories for root and the users.
for h in /root /home/admin /home/alice /home/bob; do
	printf 'ls -la\nexport TOKEN=e2e-history-secret\n' > "$h/.bash_history"
done
echo 'import os' > /root/.python_history
echo 'select 1;' > /home/alice/.mysql_history
echo 'ls' > /home/bob/.zsh_history
echo '.q' > /home/admin/.lesshst

# Extra authorized_keys for two users (cloud-init gave admin and root theirs).
for u in alice bob; do
	install -d -m 700 -o "$u" -g "$u" "/home/$u/.ssh"
	echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e $u@laptop" > "/home/$u/.ssh/authorized_keys"
	chown "$u:$u" "/home/$u/.ssh/authorized_keys"
done
echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e old@key" > /home/alice/.ssh/authorized_keys2

# Third-party credentials: AWS CLI, docker, git, and a private deploy key.
install -d -m 700 /root/.aws
printf '[default]\naws_access_key_id = AKIAE2ETESTKEY000000\naws_secret_access_key = e2eSecretKeyE2eSecretKeyE2eSecretKey0000\n' > /root/.aws/credentials
install -d -o admin -g admin /home/admin/.docker
echo '{"auths":{"registry.e2e.invalid":{"auth":"ZTJlOmUyZS1kb2NrZXItc2VjcmV0"}}}' > /home/admin/.docker/config.json
echo 'https://e2e:e2e-git-secret@git.e2e.invalid' > /home/alice/.git-credentials
ssh-keygen -q -t ed25519 -N '' -C deploy -f /home/bob/.ssh/id_deploy
chown bob:bob /home/bob/.ssh/id_deploy /home/bob/.ssh/id_deploy.pub

# Canaries that look like targets and must survive (canaries in e2e_test.go).
# (History-named files outside the homes' top level are the audit's
# findings now (issue 23): these look-alikes have no leading dot.)
mkdir -p /srv/app /home/alice/.bash_history.d /home/alice/notes /var/www/html /opt/app /srv/shared /etc/skel
echo keep > /srv/app/bash_history
echo keep > /home/admin/history.txt
echo keep > /home/alice/.bash_history.d/keep
echo keep > /home/admin/.ssh/authorized_keys.example
echo '{"credsStore":"pass"}' > /root/.docker-config-example.json
echo keep > /home/alice/notes/bash_history
echo keep > /var/www/html/bash_history
echo keep > /home/bob/authorized_keys
echo keep > /home/admin/.ssh/authorized_keys2.bak
echo 'github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl' > /home/admin/.ssh/known_hosts
printf 'Host *\n  ServerAliveInterval 30\n' > /home/admin/.ssh/config
install -d -o admin -g admin /home/admin/.aws
printf '[default]\nregion = eu-west-1\n' > /home/admin/.aws/config
echo 'registry=https://registry.npmjs.org/' > /root/.npmrc
printf '[distutils]\nindex-servers = pypi\n' > /home/alice/.pypirc
install -d -o bob -g bob /home/bob/.docker
echo '{"credsStore":"pass"}' > /home/bob/.docker/config.json
echo 'https://user:token@example.invalid' > /opt/app/.git-credentials.sample
echo keep > /home/admin/.history_notes
echo keep > /etc/skel/.bash_history_template
echo 'keep' > /home/alice/.viminfo.d
# A history link to a file elsewhere: the link goes, its target stays.
echo 'shared history' > /srv/shared/zsh_history.txt
ln -sf /srv/shared/zsh_history.txt /home/alice/.zsh_history
# A user without a login shell: its data stays.
id e2e-svc >/dev/null 2>&1 || useradd -r -m -d /var/lib/e2e-svc -s /usr/sbin/nologin e2e-svc
echo keep > /var/lib/e2e-svc/data.db
# A second filesystem mounted inside a directory the caches step empties: a
# bind mount (in fstab, so it survives the reboot) of /srv/volume.
mkdir -p /srv/volume /var/tmp/volume
echo keep > /srv/volume/keep
grep -q ' /var/tmp/volume ' /etc/fstab || echo '/srv/volume /var/tmp/volume none bind 0 0' >> /etc/fstab
mount /var/tmp/volume

# An application service, running.
install_service e2e-app "the application" simple "/bin/sh -c 'while :; do date > /var/lib/e2e/heartbeat; sleep 5; done'"

# Mail stuck in the queue: the relay (127.0.0.1:2525 on the guest) is down,
# so postfix defers it. Then the relay comes up; only a flush delivers the
# mail before postfix's next queue run (minutes away). Nothing leaves the
# guest: the relay is a sink on its own loopback.
systemctl start postfix
for i in 1 2 3; do
	printf 'Subject: e2e %s\n\nstuck\n' "$i" | /usr/sbin/sendmail ops@example.invalid
done
echo 'local mail' | /usr/sbin/sendmail admin
for _ in $(seq 1 60); do
	[ "$(postqueue -j 2>/dev/null | grep -c deferred)" -ge 3 ] && break
	sleep 1
done
postqueue -p | tail -n 1
install_service e2e-smtp-sink "the mail relay, a sink on the guest's loopback" simple \
	"/usr/sbin/smtp-sink -u postfix 127.0.0.1:2525 10"

# A service the admin disabled at build time: it must stay disabled in every
# instance (a systemd "first boot" would apply the presets and enable it).
systemctl disable cron.service

# Secrets in the image's blocks (issue 14). A file the build itself deletes
# (synced first, so that its blocks were written): only clearing the free
# space removes it.
# 4 MiB of it, so that blocks of it are still free (not yet reused by the
# build's later writes) when the test reads the disk before free_space.
yes 'BUILD_TOKEN=e2e-deleted-secret' | head -c 4194304 > /root/build.env
sync
rm -f /root/build.env
# A swap file that holds a secret past its header (as swapped-out build
# memory would), active and in fstab.
if [ ! -f /swapfile ]; then
	dd if=/dev/zero of=/swapfile bs=1M count=32 status=none
	chmod 600 /swapfile
	printf 'e2e-swapped-secret' | dd of=/swapfile bs=1 seek=1048576 conv=notrunc status=none
	mkswap -L e2e-swap /swapfile >/dev/null
	echo '/swapfile none swap sw 0 0' >> /etc/fstab
	sync
fi
swapon /swapfile 2>/dev/null || true
# A line in the journal (and, on Debian 12, in syslog).
logger -t e2e "e2e-journal-secret"
journalctl --flush 2>/dev/null || true

# Leftovers the other tools remove (issue 14): hosts the build talked to, build caches, RPM's database
# environment, profiles pinned to the build's MAC, a user the build made
# for itself.
# Issue 23: the build's name does not resolve, as on an EC2 instance in a
# VPC without DNS hostnames: sudo then warns on every call and mails root a
# "*** SECURITY information ***" (postfix delivers it to /var/mail/root).
# No outside DNS for that: the mirror's addresses are pinned in /etc/hosts
# (apt still reaches it) and names resolve from /etc/hosts alone. The
# identity step (reset_hostname) names the machine localhost later on.
if ! grep -q '^hosts: *files$' /etc/nsswitch.conf; then
	sed -n 's|^URIs: *[a-z]*://\([^/:]*\).*|\1|p' /etc/apt/sources.list.d/*.sources | sort -u |
		while read -r host; do
			getent ahostsv4 "$host" | awk -v h="$host" 'NR == 1 { print $1, h }' >> /etc/hosts
		done
	sed -i 's/^hosts:.*/hosts: files/' /etc/nsswitch.conf
fi
sed -i '/^127\.0\.1\.1/d' /etc/hosts
echo ip-10-0-2-15 > /etc/hostname
hostname ip-10-0-2-15
install -d -m 700 /root/.ssh
echo 'git.e2e.invalid ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e' > /root/.ssh/known_hosts
for d in /root/.cache/pip/http /home/alice/.cache/go-build/00 /home/bob/.npm/_cacache/index-v5; do
	mkdir -p "$d" && echo cached > "$d/entry"
done
mkdir -p /var/lib/rpm && echo env > /var/lib/rpm/__db.001
mac=$(cat /sys/class/net/ens2/address)
install -d -m 700 /etc/NetworkManager/system-connections
printf '[connection]\nid=build\ntype=ethernet\n[ethernet]\nmac-address=%s\n[ipv4]\nmethod=auto\n' "$mac" > /etc/NetworkManager/system-connections/build.nmconnection
chmod 600 /etc/NetworkManager/system-connections/build.nmconnection
mkdir -p /etc/sysconfig/network-scripts
printf 'DEVICE=eth9\nHWADDR=%s\nUUID=5e3f0c2a-1111-4222-8333-444455556666\nONBOOT=no\n' "$mac" > /etc/sysconfig/network-scripts/ifcfg-eth9
id builder >/dev/null 2>&1 || useradd -m -s /bin/bash builder
echo 'build output' > /home/builder/build.log

# Issue 26: sudo logs what it runs to a file of its own, outside /var/log
# (which the logs step empties), a line each: the e2e counts the plugin's
# root shells there.
printf 'Defaults logfile=/var/lib/e2e/sudo.log, loglinelen=0\n' > /etc/sudoers.d/e2e-log
chmod 440 /etc/sudoers.d/e2e-log

# A reboot is required, as after a kernel or libc upgrade.
touch /var/run/reboot-required
echo "e2e: guest made dirty"

# Issue 23: homes as the seed finds them. gone was removed without -r: its
# folder stays under /home and passwd no longer names it. dora's passwd home
# is a link to a folder of hers elsewhere. Each has a history, a key and a
# credential (removable) and a file of its own (a canary).
if [ ! -d /home/gone ]; then
	useradd -m -s /bin/bash gone
	install -d -o gone -g gone -m 700 /home/gone/.ssh /home/gone/.aws /home/gone/project
	userdel gone
fi
echo 'e2e-history-secret gone' > /home/gone/.bash_history
echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGone0000000000000000000000000000000000000000 gone@old' > /home/gone/.ssh/authorized_keys
printf '[default]\naws_secret_access_key = e2e-gone-credential\n' > /home/gone/.aws/credentials
echo keep > /home/gone/project/README
id dora >/dev/null 2>&1 || useradd -M -d /home/dora -s /bin/bash dora
install -d -o dora -g dora /srv/homes/dora /srv/homes/dora/.ssh /srv/homes/dora/.aws
[ -L /home/dora ] || ln -s /srv/homes/dora /home/dora
echo 'e2e-history-secret dora' > /srv/homes/dora/.bash_history
echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDora0000000000000000000000000000000000000000 dora@laptop' > /srv/homes/dora/.ssh/authorized_keys
printf '[default]\naws_secret_access_key = e2e-dora-credential\n' > /srv/homes/dora/.aws/credentials
echo keep > /srv/homes/dora/notes.txt
chown dora:dora /srv/homes/dora/.bash_history /srv/homes/dora/.ssh/authorized_keys /srv/homes/dora/.aws/credentials /srv/homes/dora/notes.txt
