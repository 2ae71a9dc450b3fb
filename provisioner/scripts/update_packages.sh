# shellcheck shell=sh
# update_packages: upgrade every package non-interactively, keeping existing
# configuration files, and say whether a reboot is needed.
# inputs: AMIH_REBOOT (always | if-required | never)
export DEBIAN_FRONTEND=noninteractive

pm=
for candidate in apt-get dnf yum zypper apk; do
	if have "$candidate"; then
		pm=$candidate
		break
	fi
done
[ -n "$pm" ] || fail "no supported package manager found (apt-get, dnf, yum, zypper, apk)"
rec fact package_manager "$pm"

# apt_get ARG...: apt-get without its binary caches on disk (it builds them in
# memory): the caches step would only remove them again, and a dry run or a
# second run writes nothing there.
apt_get() { apt-get -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "$@"; }

# pending: print "name<TAB>detail" for every package an upgrade would change.
pending() {
	case $pm in
	apt-get)
		# A simulation still writes its planner log: keep it off the disk.
		apt_get -s -o Debug::NoLocking=1 -o Dir::Log::Planner=/dev/null dist-upgrade 2>/dev/null |
			awk '$1 == "Inst" {
				if ($3 ~ /^\[/) { old = $3; new = $4 } else { old = ""; new = $3 }
				gsub(/[][()]/, "", old); gsub(/[()]/, "", new)
				print $2 "\t" (old == "" ? new : old " -> " new) }'
		;;
	dnf | yum)
		"$pm" -q check-update 2>/dev/null | awk 'NF == 3 && $1 ~ /\./ { print $1 "\t" $2 }'
		;;
	zypper)
		zypper -q -n list-updates 2>/dev/null | awk -F' \\| ' '$1 ~ /^v/ { print $3 "\t" $5 }'
		;;
	apk)
		apk -q version -l '<' 2>/dev/null | awk 'NR > 0 && $2 == "<" { print $1 "\t" $3 }'
		;;
	esac
}

refresh() {
	case $pm in
	apt-get) apt_get -q update ;;
	dnf | yum) "$pm" -q makecache ;;
	zypper) zypper -q -n refresh ;;
	apk) apk -q update ;;
	esac
}

upgrade() {
	case $pm in
	apt-get)
		apt_get -q -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold dist-upgrade
		;;
	dnf | yum) "$pm" -q -y upgrade ;;
	zypper) zypper -q -n update --no-confirm ;;
	apk) apk -q upgrade --available ;;
	esac
}

# A dry run leaves the package lists as they are (refreshing them is a change).
if dry_run; then
	rec info "dry run: package lists not refreshed; pending upgrades are as of the last refresh"
else
	refresh >&2 || fail "$pm could not refresh its package lists"
fi
list=$(pending)
count=0
if [ -n "$list" ]; then
	while IFS="$tab" read -r name detail; do
		rec change upgrade "$name" "$detail"
	done <<LIST
$list
LIST
	count=$(printf '%s\n' "$list" | wc -l)
fi
rec count packages_upgraded "$count"
if [ "$count" -gt 0 ] && ! dry_run; then
	upgrade >&2 || fail "$pm upgrade failed"
	left=$(pending | wc -l)
	[ "$left" -eq 0 ] || rec warn "$left packages still upgradable after the upgrade (held or kept back)"
fi

# reboot_reason: why the guest needs a reboot, or nothing.
reboot_reason() {
	if [ -e "$AMIH_ROOT/var/run/reboot-required" ] || [ -e "$AMIH_ROOT/run/reboot-required" ]; then
		pkgs=
		[ -r "$AMIH_ROOT/var/run/reboot-required.pkgs" ] && pkgs=$(tr '\n' ' ' <"$AMIH_ROOT/var/run/reboot-required.pkgs")
		echo "/var/run/reboot-required exists${pkgs:+ (${pkgs% })}"
		return
	fi
	if have needs-restarting; then
		needs-restarting -r >/dev/null 2>&1
		[ $? -eq 1 ] && echo "needs-restarting -r says so" && return
	fi
	if have zypper; then
		zypper -q needs-rebooting >/dev/null 2>&1
		[ $? -eq 102 ] && echo "zypper needs-rebooting says so" && return
	fi
	running=$(uname -r)
	for image in "$AMIH_ROOT"/boot/vmlinuz-* "$AMIH_ROOT"/boot/vmlinux-*; do
		[ -f "$image" ] || continue
		installed=${image##*/vmlinu?-}
		if version_newer "$installed" "$running"; then
			echo "kernel $installed is installed, $running is running"
			return
		fi
	done
}

# version_newer A B: true when version A sorts after version B (numbers
# compared as numbers, like sort -V, which busybox lacks).
version_newer() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		na = split(a, x, /[^0-9]+/); nb = split(b, y, /[^0-9]+/)
		for (i = 1; i <= na || i <= nb; i++) {
			if (x[i] + 0 > y[i] + 0) exit 0
			if (x[i] + 0 < y[i] + 0) exit 1
		}
		exit 1
	}'
}

case ${AMIH_REBOOT:-if-required} in
always) rec reboot "reboot = \"always\"" ;;
if-required)
	reason=$(reboot_reason)
	if [ -n "$reason" ]; then rec reboot "$reason"; else rec info "no reboot required"; fi
	;;
never) rec info "reboot = \"never\": not rebooting" ;;
esac
