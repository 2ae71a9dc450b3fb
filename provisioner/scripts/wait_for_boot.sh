# shellcheck shell=sh
# wait_for_boot: wait until boot has really completed.
# inputs: AMIH_BOOT_TIMEOUT (seconds), AMIH_MIN_UPTIME (seconds),
#         AMIH_HOLD_AUTO_UPDATES (1: keep apt-daily & co. from taking the lock),
#         AMIH_CLOUD_INIT_ERRORS (fail | warn)
deadline=$(($(seconds_since_boot) + AMIH_BOOT_TIMEOUT))
left() {
	_l=$((deadline - $(seconds_since_boot)))
	[ "$_l" -gt 0 ] || _l=1
	echo "$_l"
}
bounded() { # bounded COMMAND...: run with the time left, when `timeout` exists
	if have timeout; then timeout "$(left)" "$@"; else "$@"; fi
}

# cloud_init_why: what cloud-init itself says went wrong (`cloud-init status
# --long`: its errors, recoverable errors and the failing modules), as
# warnings, at most 20 lines.
cloud_init_why() {
	bounded cloud-init status --long 2>&1 | grep -v -E '^(status|extended_status|boot_status_code|last_update|time|detail|datasource):' |
		sed -e 's/^[[:space:]]*//' | grep -v '^$' | head -n 20 | while IFS= read -r _l; do rec warn "cloud-init: $_l"; done
}

kernel_fact /proc/sys/kernel/random/boot_id
rec fact boot_id "$amih_fact"
kernel_fact /proc/sys/kernel/osrelease uname -r
rec fact kernel "$amih_fact"

# systemd: running or degraded; failed units are warnings. First, because its
# end means every boot job, cloud-init's stages too, has finished.
booted=0
if [ -d "$AMIH_ROOT/run/systemd/system" ] && have systemctl; then
	# Polled rather than `--wait`, which systemd before 240 lacks.
	while :; do
		state=$(systemctl is-system-running 2>/dev/null)
		case $state in
		initializing | starting) ;;
		*) break ;;
		esac
		[ "$(seconds_since_boot)" -lt "$deadline" ] || break
		sleep 2
	done
	booted=1
	case $state in
	running) rec info "systemd is running" ;;
	degraded)
		rec warn "systemd is degraded"
		systemctl list-units --state=failed --no-legend --plain 2>/dev/null |
			while read -r unit _; do rec warn "failed unit: $unit"; done
		;;
	*) fail "systemd did not finish booting within ${AMIH_BOOT_TIMEOUT}s (state: ${state:-unknown})" ;;
	esac
	if have journalctl; then
		errors=$(journalctl -b -p err -q --no-pager -o cat 2>/dev/null | wc -l)
		rec count journal_errors "$errors"
		[ "$errors" -eq 0 ] || rec warn "$errors error messages in this boot's journal (journalctl -b -p err)"
	fi
elif have rc-status; then
	rc-status --runlevel >/dev/null 2>&1 || true
	rec info "OpenRC runlevel $(rc-status --runlevel 2>/dev/null)"
fi

# cloud-init: 0 done, 2 done with recoverable errors, 1 error. Once the boot
# has finished, a cloud-init that has not run will not run in this boot (an
# earlier run of this build cleaned its state, or it is disabled), and
# `--wait` would wait for ever. Its versions say so in their own words:
# "not run" (before 23), "not running" (cloud-init's docs, status.rst),
# "not started" (24-25, status.py NOT_STARTED), "disabled".
if have cloud-init; then
	if [ "$booted" = 1 ] && cloud-init status 2>/dev/null | grep -q -E '^status: (not run|not running|not started|disabled)$'; then
		rec info "cloud-init has not run in this boot (its state was cleaned, or it is not enabled)"
	else
		bounded cloud-init status --wait >/dev/null 2>&1
		case $? in
		0) rec info "cloud-init finished" ;;
		2)
			rec warn "cloud-init finished with recoverable errors:"
			cloud_init_why
			;;
		124) fail "cloud-init still running after ${AMIH_BOOT_TIMEOUT}s (boot_timeout)" ;;
		*)
			cloud_init_why
			# Each error item starts with its module: `- ('name', Error(...))`,
			# the name with - or _ (cloud-init 25: scripts-user); the message
			# after it may quote other names.
			modules=$(bounded cloud-init status --long 2>/dev/null |
				sed -n "s/^[[:space:]]*- (\{1,\}'\([a-z_][a-z0-9_-]*\)',.*/\1/p" | sort -u | tr '\n' ' ')
			why="cloud-init failed${modules:+ in module(s) ${modules% }} (its own words are above)"
			if [ "${AMIH_CLOUD_INIT_ERRORS:-fail}" = warn ]; then
				rec warn "$why; going on: cloud_init_errors = \"warn\""
			else
				fail "$why; cloud_init_errors = \"warn\" goes on anyway"
			fi
			;;
		esac
	fi
fi

if [ -r "$AMIH_ROOT/var/log/boot.log" ]; then
	failed=$(grep -c -i -E 'FAILED|\[FAIL' "$AMIH_ROOT/var/log/boot.log" || true)
	rec count boot_log_failures "$failed"
	[ "$failed" -eq 0 ] || rec warn "$failed failure lines in /var/log/boot.log"
fi

# Let late first-boot work finish: at least AMIH_MIN_UPTIME seconds of uptime.
up=$(seconds_since_boot)
if [ "$up" -lt "$AMIH_MIN_UPTIME" ]; then
	[ $((AMIH_MIN_UPTIME - up)) -lt "$(left)" ] || fail "uptime ${AMIH_MIN_UPTIME}s (min_uptime) cannot be reached within boot_timeout"
	rec info "waiting $((AMIH_MIN_UPTIME - up))s for min_uptime"
	sleep $((AMIH_MIN_UPTIME - up))
fi

# Keep automatic updates from taking the package manager lock for the rest of
# the build. Runtime masks live in /run: they are gone at the next boot and
# never reach the image.
if [ "${AMIH_HOLD_AUTO_UPDATES:-1}" = 1 ] && [ -d "$AMIH_ROOT/run/systemd/system" ] && have systemctl; then
	hold=
	for unit in apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service \
		unattended-upgrades.service dnf-automatic.timer dnf-automatic-install.timer \
		packagekit.service; do
		[ "$(unit_load_state "$unit")" = loaded ] || continue
		[ "$(systemctl is-enabled "$unit" 2>/dev/null)" = masked-runtime ] && continue
		hold="$hold $unit"
	done
	# One mask and one stop for all of them: each mask reloads systemd,
	# which takes seconds on a slow guest.
	if [ -n "$hold" ] && ! dry_run; then
		# shellcheck disable=SC2086 # unit names without spaces, split on purpose
		{ systemctl mask --runtime -- $hold && systemctl stop -- $hold; } >/dev/null 2>&1 || rec warn "could not hold$hold"
	fi
	for unit in $hold; do
		if dry_run; then
			rec info "would hold $unit until the next boot (systemctl mask --runtime)"
		else
			rec info "held $unit until the next boot (systemctl mask --runtime)"
		fi
	done
fi

# No package manager may hold its lock. Debian's and Ubuntu's
# unattended-upgrade-shutdown --wait-for-signal (its name also shows as
# "unattended-upgr") waits for the shutdown for ever and holds no lock: it
# does not count.
busy() {
	for comm in "$AMIH_ROOT"/proc/[0-9]*/comm; do
		read -r name <"$comm" 2>/dev/null || continue
		case $name in
		unattended-upgr)
			tr '\000' ' ' <"${comm%/comm}/cmdline" 2>/dev/null | grep -q 'unattended-upgrade-shutdown' && continue
			echo "$name" && return 0
			;;
		apt | apt-get | aptitude | dpkg | dnf | dnf5 | yum | zypper | rpm | apk) echo "$name" && return 0 ;;
		esac
	done
	return 1
}
while holder=$(busy); do
	[ "$(seconds_since_boot)" -lt "$deadline" ] || fail "package manager still busy ($holder) after ${AMIH_BOOT_TIMEOUT}s (boot_timeout)"
	sleep 2
done
rec info "no package manager is running"
