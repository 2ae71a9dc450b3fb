# shellcheck shell=sh
# final_shutdown: what the build's own final shutdown writes must not reach
# the image. Two phases of one script:
#   install  (the step, during the build): write AMIH_SHUTDOWN_SCRIPT (this
#            script again, with AMIH_PHASE=shutdown) and a unit into /run (in
#            memory: neither reaches the image) and start the unit;
#   shutdown (the unit's ExecStop, at the build's final shutdown, after the
#            network, sshd, the user sessions, utmp/wtmpdb, the random seed
#            and the journal's flush unit have stopped): move the journal to
#            /run, overwrite and remove what they wrote, empty again what
#            the logs and mail_queue steps emptied (lib.sh empty_again),
#            remove the listed users.
# inputs: AMIH_PHASE (install | shutdown), AMIH_SHUTDOWN_SCRIPT (install),
#         AMIH_KEEP_JOURNAL (1 or 0), AMIH_REMOVE_USERS (one user per line)
unit=ami-hygiene-final-shutdown.service
unit_file=$AMIH_ROOT/run/systemd/system/$unit
script_file=$AMIH_ROOT/run/ami-hygiene/final-shutdown.sh

# The units whose stop writes what this one removes (and cloud-init's, which
# run sessions of their own; the syslog daemons and mail systems, which log
# the build and the shutdown and deliver root's mail): systemd stops this
# one after all of them (it is ordered before them; a unit the image lacks
# is ignored).
writers="systemd-journal-flush.service systemd-random-seed.service systemd-update-utmp.service wtmpdb-update-boot.service
networking.service NetworkManager.service systemd-networkd.service dhcpcd.service wicked.service
ssh.service sshd.service user.slice systemd-logind.service systemd-user-sessions.service
cloud-init.service cloud-final.service
rsyslog.service syslog-ng.service syslog.service busybox-syslogd.service
postfix.service postfix@-.service exim4.service sendmail.service"

# Where the shutdown's cleanup notes what failed: a file in the image, the
# only thing that outlives the shutdown; the audit reports it (check
# final_shutdown), and the install phase of the next build says it and
# removes it.
failures=$AMIH_ROOT/var/lib/ami-hygiene/final-shutdown.failed

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

# not_own_home USER UID HOME: why HOME is not USER's alone to overwrite and
# remove, or nothing when it is: a folder other than / (no link) that USER
# owns, that is no other account's home and holds none (no passwd home of
# another account is HOME or below it, its links resolved), holds no file
# of another account (find -xdev; root's files are the build's own, written
# there through sudo), and on which or below which no filesystem is
# mounted.
not_own_home() {
	_h=$AMIH_ROOT$3
	if [ -z "$3" ] || [ "$3" = / ] || [ ! -d "$_h" ] || [ -L "$_h" ] || ! real_dir "$_h"; then
		echo "$3 is not a folder of its own"
		return
	fi
	_real=${amih_real#"$amih_real_root"}
	if [ -z "$(find "$_h" -prune -user "$2" 2>/dev/null)" ]; then
		echo "$1 does not own $3"
		return
	fi
	_other=$(awk -F: -v u="$1" '$1 != u { print $1 "\t" $6 }' "$AMIH_ROOT/etc/passwd" | while IFS="$tab" read -r _u _oh; do
		if [ -z "$_oh" ] || ! real_dir "$AMIH_ROOT$_oh"; then continue; fi
		case ${amih_real#"$amih_real_root"}/ in "${_real%/}"/*) echo "$_u" && break ;; esac
	done)
	if [ -n "$_other" ]; then
		echo "it is the home of $_other too, or holds it"
	elif holds_mount "$_real"; then
		echo "a filesystem is mounted in it"
	elif [ -n "$(find "$_h" -xdev ! -user "$2" ! -user 0 -print 2>/dev/null | head -n 1)" ]; then
		echo "it holds files of another account"
	fi
}

# remove_user USER: the account first (userdel, never -r or -f: -f removes
# a home another user shares; deluser where there is no userdel), then,
# only once the account is gone, its home and its mailbox, overwritten
# first, when they are its own (not_own_home): a refusal (the user still
# has a process) leaves every file as it was.
remove_user() {
	_home=$(passwd_home "$1") || return 0
	_uid=$(passwd_field "$1" 3)
	# Checked at install too; passwd may have changed since.
	if [ "$_uid" = 0 ]; then
		fail "remove_users: $1 has uid 0: left alone"
		return 1
	fi
	_why=$(not_own_home "$1" "$_uid" "$_home")
	if have userdel; then
		_out=$(userdel "$1" 2>&1)
	else
		_out=$(deluser "$1" 2>&1)
	fi || {
		fail "could not remove user $1: $_out"
		return 1
	}
	rec change remove-user "$1"
	if [ -n "$_why" ]; then
		rec warn "left the home $_home of the removed user $1 alone: $_why"
	else
		remove_tree "$AMIH_ROOT$_home" "$AMIH_ROOT${_home%/*}/"
	fi
	for _box in "$AMIH_ROOT/var/mail/$1" "$AMIH_ROOT/var/spool/mail/$1"; do
		if [ -f "$_box" ] && [ ! -L "$_box" ] && [ -n "$(find "$_box" -prune -user "$_uid" -links 1 2>/dev/null)" ]; then
			remove_file "$_box"
		fi
	done
}

# each_noted NAME FUNC: FUNC PATH for every path noted in
# /run/ami-hygiene/NAME (amih_field-escaped, a line each).
each_noted() {
	[ -f "$AMIH_ROOT/run/ami-hygiene/$1" ] || return 0
	while IFS= read -r _esc; do
		[ -n "$_esc" ] || continue
		_noted=$(printf '%b.' "$_esc")
		"$2" "${_noted%.}"
	done <"$AMIH_ROOT/run/ami-hygiene/$1"
}
# unmoved DIR: DIR (as the guest sees it) is still where it was: no link on
# its way.
unmoved() { real_dir "$AMIH_ROOT$1/" && [ "${amih_real#"$amih_real_root"}" = "$1" ]; }
empty_noted_file() {
	if unmoved "${1%/*}"; then
		truncate_file "$AMIH_ROOT$1"
	elif [ -e "$AMIH_ROOT$1" ]; then
		rec warn "left $1 alone: a symbolic link on its way leads elsewhere now"
	fi
}
empty_spool() {
	unmoved "$1" || return 0
	for _box in "$AMIH_ROOT$1"/*; do
		truncate_file "$_box" "$AMIH_ROOT$1"
	done
}

if [ "${AMIH_PHASE:-}" = shutdown ]; then
	# Every file goes overwritten first (lib.sh overwrite). One failure
	# stops nothing else: it is noted (failures) and the cleanup goes on.
	amih_overwrite=1
	amih_empty_again=0
	fail() {
		rec warn "$1"
		mkdir -p "${failures%/*}" 2>/dev/null && printf '%s\n' "$1" >>"$failures"
		return 1
	}
	each_lease remove_file
	remove_file "$AMIH_ROOT/var/lib/systemd/random-seed"
	for f in /var/log/wtmp /var/log/btmp /var/log/lastlog /var/log/wtmp.db /var/log/wtmp.db-journal \
		/var/lib/wtmpdb/wtmp.db /var/lib/wtmpdb/wtmp.db-journal /var/lib/wtmpdb/wtmp.db-wal \
		/var/lib/lastlog/lastlog2.db /var/lib/lastlog/lastlog2.db-journal; do
		truncate_file "$AMIH_ROOT$f"
	done
	# What the logs and mail_queue steps emptied and what was written there
	# since (the syslog daemon's lines of the build and the shutdown, root's
	# mail): emptied again, now that their writers have stopped; and every
	# mailbox of the spools mail_queue emptied, those made since included.
	# Only where no link has appeared on the way since (a folder replaced by
	# a link out of /var/log).
	each_noted emptied empty_noted_file
	each_noted spools empty_spool
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
	while IFS= read -r user; do
		[ -z "$user" ] || remove_user "$user"
	done <<USERS
${AMIH_REMOVE_USERS:-}
USERS
	sync
	exit 0
fi

# The install phase.
if ! have systemctl || [ ! -d "$AMIH_ROOT/run/systemd/system" ]; then
	rec warn "not systemd: what the final shutdown writes (DHCP lease, login records, journal, random seed) stays in the image"
	exit 0
fi
if [ -f "$failures" ] && [ ! -L "$failures" ]; then
	rec warn "the final shutdown of the build this image came from could not clean everything: $(head -c 2000 "$failures" | tr '\n' ';')"
	dry_run || rm -f -- "$failures"
fi

# has_key USER<TAB>HOME: USER has an authorized_keys file with a key.
has_key() {
	while IFS= read -r _kf; do
		[ -f "$AMIH_ROOT$_kf" ] && holds_key "$AMIH_ROOT$_kf" && return 0
	done <<FILES
$(authorized_key_paths "$configured" "$1")
FILES
	return 1
}
removed() { printf '%s\n' "${AMIH_REMOVE_USERS:-}" | grep -qxF -- "$1"; }
# key_holders: who has a key, removed users apart from the others.
key_holder() {
	has_key "$1" || return 0
	if removed "${1%%"$tab"*}"; then removed_with_keys="$removed_with_keys ${1%%"$tab"*}"; else others_with_keys=1; fi
}
present=''
for user in ${AMIH_REMOVE_USERS:-}; do
	if ! passwd_home "$user" >/dev/null; then
		rec info "remove_users: $user does not exist"
	elif [ "$(passwd_field "$user" 3)" = 0 ]; then
		fail "remove_users: $user has uid 0"
	else
		present="$present $user"
	fi
done
# Never a lockout: removing the only users with a key, where cloud-init
# does not run to add each instance's key and no AuthorizedKeysCommand
# answers, leaves no way in.
if [ -n "$present" ] && ! cloud_init_runs && ! { command=$(keys_command) && [ -n "$command" ]; }; then
	configured=$(authorized_key_files)
	removed_with_keys='' others_with_keys=0
	each_home all key_holder
	if [ -n "$removed_with_keys" ] && [ "$others_with_keys" = 0 ]; then
		fail "remove_users:$removed_with_keys would take the last SSH keys of the image, and cloud-init does not run to add an instance's key: no one could log in to the instances (keep a user with a key, or enable cloud-init)"
	fi
fi
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
