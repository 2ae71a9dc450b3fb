# shellcheck shell=sh
# final_shutdown: what the build's own final shutdown writes must not reach
# the image. Two phases of one script:
#   install  (the step, during the build): write AMIH_SHUTDOWN_SCRIPT (this
#            script again, with AMIH_PHASE=shutdown) and a unit into /run (in
#            memory: neither reaches the image) and start the unit;
#   shutdown (the unit's ExecStop, at the build's final shutdown, after the
#            network, sshd, the user sessions, utmp/wtmpdb, the random seed
#            and the journal's flush unit have stopped): move the journal to
#            /run, overwrite and remove what they wrote.
# inputs: AMIH_PHASE (install | shutdown), AMIH_SHUTDOWN_SCRIPT (install),
#         AMIH_KEEP_JOURNAL (1 or 0), AMIH_REMOVE_USERS (one user per line)
unit=ami-hygiene-final-shutdown.service
unit_file=$AMIH_ROOT/run/systemd/system/$unit
script_file=$AMIH_ROOT/run/ami-hygiene/final-shutdown.sh

# The units whose stop writes what this one removes (and cloud-init's, which
# run sessions of their own): systemd stops this one after all of them (it
# is ordered before them; a unit the image lacks is ignored).
writers="systemd-journal-flush.service systemd-random-seed.service systemd-update-utmp.service wtmpdb-update-boot.service
networking.service NetworkManager.service systemd-networkd.service dhcpcd.service wicked.service
ssh.service sshd.service user.slice systemd-logind.service systemd-user-sessions.service
cloud-init.service cloud-final.service"

# cloud_init_sudoers: the sudo rule cloud-init wrote for its default user
# (the build's user), when cloud-init writes it again on every new instance.
cloud_init_sudoers() {
	_rule=$AMIH_ROOT/etc/sudoers.d/90-cloud-init-users
	[ -f "$_rule" ] && [ ! -L "$_rule" ] && head -n 3 "$_rule" | grep -q 'Created by cloud-init' && cloud_init_runs && echo "$_rule"
}

# passwd_field USER N: field N of USER's /etc/passwd line, when USER is in
# it; passwd_home USER: its home directory.
passwd_field() { awk -F: -v u="$1" -v n="$2" '$1 == u { print $n; found = 1; exit } END { exit !found }' "$AMIH_ROOT/etc/passwd"; }
passwd_home() { passwd_field "$1" 6; }

# remove_user USER: USER, and its home (overwritten first) when that is its
# own. The home is guest data: only a folder that is not / and that USER owns
# is USER's (a home of / or /srv, shared or the system's, is neither
# overwritten nor removed: userdel without -r, never -f).
remove_user() {
	_home=$(passwd_home "$1") || return 0
	_uid=$(passwd_field "$1" 3)
	if [ -n "$_home" ] && [ "$_home" != / ] && [ -d "$AMIH_ROOT$_home" ] && [ ! -L "$AMIH_ROOT$_home" ] &&
		[ -n "$(find "$AMIH_ROOT$_home" -prune -user "$_uid" 2>/dev/null)" ]; then
		overwrite_tree "$AMIH_ROOT$_home"
		rec change remove-user "$1"
		userdel -r "$1" 2>/dev/null || deluser --remove-home "$1" || rec warn "could not remove user $1"
	else
		rec change remove-user "$1"
		userdel "$1" 2>/dev/null || deluser "$1" || rec warn "could not remove user $1"
	fi
}

if [ "${AMIH_PHASE:-}" = shutdown ]; then
	# Every file goes overwritten first (lib.sh overwrite).
	amih_overwrite=1
	each_lease remove_file
	remove_file "$AMIH_ROOT/var/lib/systemd/random-seed"
	for f in /var/log/wtmp /var/log/btmp /var/log/lastlog /var/log/wtmp.db /var/log/wtmp.db-journal \
		/var/lib/lastlog/lastlog2.db /var/lib/lastlog/lastlog2.db-journal; do
		truncate_file "$AMIH_ROOT$f"
	done
	# The journal moves to /run first: systemd-journal-flush's stop does that
	# only when /var/log/journal is on a filesystem of its own
	# (--smart-relinquish-var), and journald, finding its file deleted,
	# would make a new one. Then every file under /var/log/journal goes, the
	# folder stays (with Storage=auto, its existence keeps the journal
	# persistent on the instances).
	if [ "$AMIH_KEEP_JOURNAL" != 1 ] && [ -d "$AMIH_ROOT/var/log/journal" ] && [ ! -L "$AMIH_ROOT/var/log/journal" ]; then
		if [ -z "$AMIH_ROOT" ] && have journalctl; then
			journalctl --relinquish-var >/dev/null 2>&1 || rec warn "journalctl --relinquish-var failed (systemd before 243?): journald may write to /var/log/journal after this"
		fi
		for entry in "$AMIH_ROOT"/var/log/journal/* "$AMIH_ROOT"/var/log/journal/.[!.]*; do
			if [ -e "$entry" ] || [ -L "$entry" ]; then remove_tree "$entry" "$AMIH_ROOT/var/log/journal"; fi
		done
	fi
	rule=$(cloud_init_sudoers) && remove_file "$rule"
	each_line "${AMIH_REMOVE_USERS:-}" remove_user
	sync
	exit 0
fi

# The install phase.
if ! have systemctl || [ ! -d "$AMIH_ROOT/run/systemd/system" ]; then
	rec warn "not systemd: what the final shutdown writes (DHCP lease, login records, journal, random seed) stays in the image"
	exit 0
fi
for user in ${AMIH_REMOVE_USERS:-}; do
	if ! passwd_home "$user" >/dev/null; then
		rec info "remove_users: $user does not exist"
	elif [ "$(awk -F: -v u="$user" '$1 == u { print $3 }' "$AMIH_ROOT/etc/passwd")" = 0 ]; then
		fail "remove_users: $user has uid 0"
	fi
done
rec info "at the final shutdown: remove the DHCP leases, systemd's random seed, the login records$([ "$AMIH_KEEP_JOURNAL" = 1 ] || echo ", the journal")$(cloud_init_sudoers >/dev/null && echo ", cloud-init's sudo rule for the build user (90-cloud-init-users; each instance's cloud-init writes its own)")$([ -z "${AMIH_REMOVE_USERS:-}" ] || printf ', the users %s' "$(printf '%s' "$AMIH_REMOVE_USERS" | tr '\n' ' ' | sed 's/ $//')")"

unit_text="[Unit]
Description=ami-hygiene: remove what the build's final shutdown writes
DefaultDependencies=no
After=local-fs.target
RequiresMountsFor=/var/log /var/lib
Conflicts=shutdown.target
Before=shutdown.target $(printf '%s' "$writers" | tr '\n' ' ')

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop=/bin/sh /run/ami-hygiene/final-shutdown.sh
TimeoutStopSec=5min"

if [ -f "$unit_file" ] && [ "$(cat "$unit_file")" = "$unit_text" ] && [ -f "$script_file" ] &&
	[ "$(cat "$script_file"; echo x)" = "${AMIH_SHUTDOWN_SCRIPT}x" ] && systemctl is-active --quiet "$unit"; then
	exit 0
fi
rec change install "/run/systemd/system/$unit" "in memory, never in the image: runs at the final shutdown"
dry_run && exit 0
mkdir -p "${unit_file%/*}" "${script_file%/*}" || fail "cannot create folders in /run"
# umask 077: the script is root's alone.
(umask 077 && printf '%s' "$AMIH_SHUTDOWN_SCRIPT" >"$script_file") || fail "cannot write $script_file"
printf '%s\n' "$unit_text" >"$unit_file" || fail "cannot write $unit_file"
systemctl daemon-reload || fail "systemctl daemon-reload failed"
# Never restart it: its stop is the cleanup, which must wait for the end.
systemctl is-active --quiet "$unit" || systemctl start "$unit" || fail "cannot start $unit"
