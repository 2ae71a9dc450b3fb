# shellcheck shell=sh
# machine_identity: make every instance of the image a machine of its own.
# inputs: AMIH_REMOVE_HOST_KEYS, AMIH_ENSURE_HOST_KEYS, AMIH_CLOUD_INIT_CLEAN,
#         AMIH_RESET_HOSTNAME, AMIH_FIRST_BOOT (1 or 0)
R=$AMIH_ROOT

# systemd_version: the major version of systemd, 0 without systemd.
systemd_version() {
	if have systemctl; then
		systemctl --version 2>/dev/null | awk 'NR == 1 { print $2 + 0; exit }'
	else
		echo 0
	fi
}

# machine-id: an empty file gives each instance a new id at its first boot
# without making that boot a systemd "first boot"; "uninitialized" does
# (systemd 247 and later), and a first boot applies the unit presets again:
# it would enable what the build disabled (machine-id(5), "First Boot
# Semantics"). AMIH_FIRST_BOOT=1 asks for it.
if [ -f "$R/etc/machine-id" ] && [ ! -L "$R/etc/machine-id" ]; then
	want=
	if [ "$AMIH_FIRST_BOOT" = 1 ]; then
		version=$(systemd_version)
		if [ "$version" -ge 247 ]; then
			want=uninitialized
		else
			rec warn "first_boot: systemd $version has no first-boot marker (247 and later have); /etc/machine-id is emptied"
		fi
	fi
	current=$(cat "$R/etc/machine-id")
	if [ "$current" != "$want" ]; then
		rec change reset /etc/machine-id "${want:-empty}"
		if ! dry_run; then
			# Atomic (replace_file): a full disk leaves the old id, never a cut one.
			replace_file "$R/etc/machine-id" "${want:+$want$nl}" || fail "cannot reset /etc/machine-id (left as it was)"
		fi
	fi
fi
truncate_file "$R/var/lib/dbus/machine-id"

remove_file "$R/var/lib/systemd/random-seed"
remove_file "$R/var/lib/systemd/credential.secret"

# DHCP leases of every client, and udev's persistent network names.
each_lease remove_file
remove_file "$R/etc/udev/rules.d/70-persistent-net.rules"

# RPM's Berkeley DB environment files: rebuilt at the next rpm call, and
# they hold this machine's state (virt-sysprep's rpm-db).
for f in "$R"/var/lib/rpm/__db.*; do remove_file "$f"; done

# The build's network identity: MAC addresses pinned in NetworkManager
# profiles and ifcfg files (HWADDR, and their UUID in ifcfg), which would
# not match an instance's own interface.
build_macs=$(cat "$R"/sys/class/net/*/address 2>/dev/null | tr 'A-F' 'a-f' | grep -v '^00:00:00:00:00:00$')
# keep_lines FILE AWK-PROGRAM: rewrite FILE with only the lines the awk
# program prints (atomically, owner and mode kept: write_file).
keep_lines() {
	[ -f "$1" ] && [ ! -L "$1" ] || return 0
	_kept=$(amih_macs=$build_macs awk "$2" "$1"; echo x)
	_kept=${_kept%x}
	[ "${_kept}x" != "$(cat "$1"; echo x)" ] || return 0
	# write_file adds the last newline itself.
	write_file "$1" "${_kept%"$nl"}"
}
# shellcheck disable=SC2016 # awk's $0, not the shell's
not_build_mac='BEGIN { n = split(ENVIRON["amih_macs"], m, "\n"); for (i = 1; i <= n; i++) mac[m[i]] = 1 }
	{ l = tolower($0) }
	!(l ~ /^[ \t]*(cloned-)?mac-address[ \t]*=/ && (substr(l, index(l, "=") + 1) in mac)) { print }'
for f in "$R"/etc/NetworkManager/system-connections/*; do
	case $f in */cloud-init-*) continue ;; esac
	if [ -n "$build_macs" ]; then keep_lines "$f" "$not_build_mac"; fi
done
for f in "$R"/etc/sysconfig/network-scripts/ifcfg-* "$R"/etc/sysconfig/network/ifcfg-*; do
	case $f in *ifcfg-lo) continue ;; esac
	keep_lines "$f" '!/^[ \t]*(HWADDR|UUID)=/'
done

if [ "$AMIH_RESET_HOSTNAME" = 1 ] && [ -e "$R/etc/hostname" ]; then
	# The build's name in /etc/hosts (Debian's `127.0.1.1 <name>` line)
	# goes with it: an instance would resolve a name it does not have.
	old_name=$(head -n 1 "$R/etc/hostname" 2>/dev/null)
	if [ -n "$old_name" ] && [ "$old_name" != localhost ]; then
		amih_name=$old_name
		export amih_name
		# shellcheck disable=SC2016 # awk's fields, not the shell's
		keep_lines "$R/etc/hosts" '!($1 == "127.0.1.1" && index(" " $2 " " $3 " " $4 " " $5 " " $6 " " $7 " ", " " ENVIRON["amih_name"] " "))'
	fi
	write_file "$R/etc/hostname" localhost
	# The running system takes the name too: with its /etc/hosts line gone,
	# the build's old name would no longer resolve, and every later sudo
	# would say "unable to resolve host" and mail root about it (into the
	# image's /var/mail/root).
	if [ -z "$R" ] && [ "$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)" != localhost ]; then
		rec change hostname "the running system" localhost
		if ! dry_run; then
			hostname localhost 2>/dev/null || printf 'localhost\n' >/proc/sys/kernel/hostname || rec warn "could not rename the running system: sudo may complain that it cannot resolve its old name"
		fi
	fi
fi

# cloud-init: forget this instance, so that the next one runs cloud-init
# again (and gets its own launch key).
if [ "$AMIH_CLOUD_INIT_CLEAN" = 1 ] && have cloud-init; then
	state=
	for f in "$R"/var/lib/cloud/instance "$R"/var/lib/cloud/instances/* "$R"/var/lib/cloud/seed/* \
		"$R"/var/log/cloud-init.log "$R"/var/log/cloud-init-output.log; do
		if [ -e "$f" ] || [ -L "$f" ]; then state="$state ${f#"$R"}"; fi
	done
	if [ -n "$state" ]; then
		rec change clean cloud-init "--logs --seed:$state"
		if ! dry_run; then
			cloud-init clean --logs --seed >&2 || fail "cloud-init clean --logs --seed failed"
		fi
	fi
fi

# cloud-init's network configuration for the build's interfaces (cloud-init's
# own list, `cloud-init clean --configs network`, and Debian's eni file):
# the next instance's cloud-init writes its own, but only when cloud-init
# runs then and renders the network (not `network: {config: disabled}`);
# otherwise it is the image's only network configuration, and stays.
if [ "$AMIH_CLOUD_INIT_CLEAN" = 1 ]; then
	netcfg=
	for f in "$R"/etc/netplan/50-cloud-init.yaml "$R"/etc/network/interfaces.d/50-cloud-init \
		"$R"/etc/network/interfaces.d/50-cloud-init.cfg "$R"/etc/NetworkManager/conf.d/99-cloud-init.conf \
		"$R"/etc/NetworkManager/conf.d/30-cloud-init-ip6-addr-gen-mode.conf \
		"$R"/etc/NetworkManager/system-connections/cloud-init-*.nmconnection \
		"$R"/etc/systemd/network/10-cloud-init-*.network; do
		if [ -f "$f" ] || [ -L "$f" ]; then netcfg="$netcfg$f$nl"; fi
	done
	if [ -n "$netcfg" ]; then
		if ! cloud_init_runs; then
			rec info "kept cloud-init's network configuration: cloud-init will not run at the next boot to write it again"
		elif printf '%s' "$cfgs" | xargs grep -Eqs '^[^#]*config:[[:space:]]*disabled'; then
			rec info "kept cloud-init's network configuration: its configuration turns network rendering off (config: disabled)"
		else
			each_line "$netcfg" remove_file
		fi
	fi
fi

# Host keys go only when something makes new ones at boot.
host_keys=
for key in "$R"/etc/ssh/ssh_host_*; do
	if [ -f "$key" ] || [ -L "$key" ]; then host_keys=1; fi
done

# cloud_init_regenerates: cloud-init is enabled (not disabled by
# /etc/cloud/cloud-init.disabled, by cloud-init=disabled on the kernel
# command line, or by masking the unit its ssh module runs in), its ssh
# module runs, and ssh_genkeytypes is not emptied. (ssh_deletekeys: false
# does not matter here: the module still makes the keys that are missing.)
cloud_init_regenerates() {
	cloud_init_runs || return 1
	printf '%s' "$cfgs" | xargs grep -Eqs '^[[:space:]]*-[[:space:]]*\[?[[:space:]]*(cc_)?ssh([],[:space:]]|$)' || return 1
	! printf '%s' "$cfgs" | xargs grep -Eqs '^[[:space:]]*ssh_genkeytypes:[[:space:]]*(\[[[:space:]]*\])?[[:space:]]*$'
}
unit_dirs="$R/etc/systemd/system $R/usr/lib/systemd/system $R/lib/systemd/system"
# keygen_unit: an sshd-keygen unit (Fedora, RHEL, Amazon Linux, SUSE).
# A unit that says ConditionFirstBoot=yes (Debian 13's sshd-keygen.service)
# runs only on a systemd first boot, which the emptied machine-id does not
# make: it counts only with first_boot (AMIH_FIRST_BOOT=1).
keygen_unit() {
	for u in $(keygen_units); do
		if [ "$AMIH_FIRST_BOOT" = 1 ] || ! first_boot_only "$R$u"; then
			echo "$u"
			return 0
		fi
	done
	return 1
}
# keygen_units: the sshd-keygen units present and not masked.
keygen_units() {
	for d in $unit_dirs; do
		for u in "$d"/sshd-keygen@.service "$d"/sshd-keygen.service "$d"/sshd-gen-keys-start.service \
			"$d"/ami-hygiene-ssh-host-keys.service; do
			if [ -f "$u" ] && ! masked "${u##*/}"; then echo "${u#"$R"}"; fi
		done
	done
}
# first_boot_only UNIT_FILE: the unit, or a drop-in of it, says
# ConditionFirstBoot=yes.
first_boot_only() {
	_name=${1##*/}
	cat "$1" "$R/etc/systemd/system/$_name.d"/*.conf "$R/usr/lib/systemd/system/$_name.d"/*.conf \
		"$R/lib/systemd/system/$_name.d"/*.conf 2>/dev/null |
		grep -qi -E '^[[:space:]]*ConditionFirstBoot[[:space:]]*=[[:space:]]*(yes|true|on|1)[[:space:]]*$'
}
# openrc_keygen_disabled: Alpine's sshd script skips its `ssh-keygen -A`
# when /etc/conf.d/sshd (or rc.conf) sets sshd_disable_keygen (or the older
# SSHD_DISABLE_KEYGEN) to one of OpenRC's yes words.
openrc_keygen_disabled() {
	cat "$R/etc/conf.d/sshd" "$R/etc/rc.conf" 2>/dev/null | awk '
		{ sub(/^[ \t]*(export[ \t]+)?/, "") }
		/^(sshd_disable_keygen|SSHD_DISABLE_KEYGEN)=/ {
			v = $0; sub(/^[^=]*=/, "", v); gsub(/["\047 \t]/, "", v); v = tolower(v)
			found = (v == "yes" || v == "true" || v == "on" || v == "1")
		}
		END { exit !found }'
}
# ssh_unit_keygen: ssh-keygen in the ssh service itself: Alpine's OpenRC
# script (unless its conf.d turns that off), openSUSE's sshd.service
# (ExecStartPre=/usr/sbin/sshd-gen-keys-start), other units and drop-ins.
ssh_unit_keygen() {
	for f in "$R"/etc/init.d/sshd "$R"/etc/init.d/ssh; do
		grep -qs 'ssh-keygen' "$f" && ! openrc_keygen_disabled && echo "${f#"$R"}" && return 0
	done
	for d in $unit_dirs; do
		for f in "$d"/ssh.service "$d"/sshd.service "$d"/ssh.service.d/*.conf "$d"/sshd.service.d/*.conf; do
			grep -qs -E '^Exec.*(ssh-keygen|sshd-gen-keys-start)' "$f" && echo "${f#"$R"}" && return 0
		done
	done
	return 1
}

install_keygen_unit() {
	have systemctl || fail "ensure_host_keys needs systemd; this guest has no systemctl"
	keygen=$(command -v ssh-keygen) || fail "ensure_host_keys: ssh-keygen is not installed"
	unit=/etc/systemd/system/ami-hygiene-ssh-host-keys.service
	dry_run || mkdir -p "$R/etc/systemd/system" || fail "cannot create /etc/systemd/system"
	write_file "$R$unit" "[Unit]
Description=Generate the SSH host keys of a new instance (installed by ami-hygiene)
Before=ssh.service sshd.service
ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key

[Service]
Type=oneshot
ExecStart=$keygen -A

[Install]
WantedBy=multi-user.target"
	link=$R/etc/systemd/system/multi-user.target.wants/ami-hygiene-ssh-host-keys.service
	if [ ! -L "$link" ]; then
		rec change enable ami-hygiene-ssh-host-keys.service
		if ! dry_run && ! { mkdir -p "${link%/*}" && ln -s "$unit" "$link"; }; then
			fail "cannot enable $unit"
		fi
	fi
	regenerator="ami-hygiene-ssh-host-keys.service (ensure_host_keys)"
}

if [ "$AMIH_REMOVE_HOST_KEYS" = 1 ] && [ -n "$host_keys" ]; then
	if cloud_init_regenerates; then
		regenerator="cloud-init's ssh module"
	elif regenerator=$(keygen_unit) || regenerator=$(ssh_unit_keygen); then
		:
	elif [ "$AMIH_ENSURE_HOST_KEYS" = 1 ]; then
		install_keygen_unit
	elif first=$(keygen_units) && [ -n "$first" ]; then
		fail "nothing on this image would generate SSH host keys at boot: $(echo "$first" | head -n 1) runs only on a systemd first boot (ConditionFirstBoot=yes), which the emptied /etc/machine-id does not make, so sshd could not start in its instances; set machine_identity.first_boot = true to make each instance's first boot one, ensure_host_keys = true to install a unit that does not depend on it, or remove_host_keys = false to keep the keys"
	else
		fail "nothing on this image would generate SSH host keys at boot (no cloud-init ssh module, no sshd-keygen unit, no ssh-keygen in the ssh service), so sshd could not start in its instances; set machine_identity.ensure_host_keys = true to install a unit that makes them when they are missing, or remove_host_keys = false to keep the keys"
	fi
	rec info "SSH host keys are generated at boot by $regenerator"
	for key in "$R"/etc/ssh/ssh_host_*; do remove_file "$key"; done
	no_reconnect "machine_identity removed the SSH host keys"
fi
