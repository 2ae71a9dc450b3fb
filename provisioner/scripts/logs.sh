# shellcheck shell=sh
# logs: truncate every log under /var/log in place, remove rotated archives,
# empty the login records (with lastlog2's database, which lives in
# /var/lib/lastlog), and rotate and vacuum the journal; auditd is
# stopped around the truncation of its own log.
# inputs: AMIH_EXCLUDE (patterns, one per line), AMIH_KEEP_ROTATED,
#         AMIH_KEEP_JOURNAL (1 or 0)
logdir=$AMIH_ROOT/var/log
if [ ! -d "$logdir" ] || [ -L "$logdir" ]; then exit 0; fi

rotated() {
	case $1 in
	*.[0-9] | *.[0-9].gz | *.[0-9][0-9] | *.[0-9][0-9].gz | *.gz | *.xz | *.bz2 | *.zst | *.old) return 0 ;;
	*-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9] | *-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9].*) return 0 ;;
	esac
	return 1
}

# Filesystems mounted below /var/log (bind mounts too, which find -xdev does
# not see) are not the image's logs: left alone.
log_mounts=$(mount_points | grep -F -e '/var/log/')
clean_log() {
	if in_globs "${1#"$AMIH_ROOT"}" "${AMIH_EXCLUDE:-}"; then
		return 0
	elif [ -n "$log_mounts" ] && in_mount "${1#"$AMIH_ROOT"}" "$log_mounts"; then
		return 0
	elif [ "$AMIH_KEEP_ROTATED" != 1 ] && rotated "$1"; then
		remove_file "$1" "$logdir"
	else
		truncate_file "$1" "$logdir"
	fi
}

# auditd writes its log itself and keeps it open: stop it first (the RHEL
# family's unit refuses `systemctl stop`; its `service` script does it),
# start it again afterwards.
auditd_running() { [ -z "$AMIH_ROOT" ] && have pidof && pidof auditd >/dev/null 2>&1; }
stop_auditd() {
	if [ -x /usr/libexec/initscripts/legacy-actions/auditd/stop ] && have service; then
		service auditd stop >&2
	elif have systemctl; then
		systemctl stop auditd.service >&2 2>/dev/null
	elif have rc-service; then
		rc-service auditd stop >&2
	fi
	# Units that refuse a manual stop: auditd ends cleanly on SIGTERM.
	if auditd_running; then
		kill -TERM "$(pidof auditd)" 2>/dev/null
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			auditd_running || break
			sleep 1
		done
	fi
	! auditd_running
}
start_auditd() {
	if [ -x /usr/libexec/initscripts/legacy-actions/auditd/stop ] && have service; then
		service auditd start >&2
	elif have systemctl; then
		systemctl start auditd.service >&2
	elif have rc-service; then
		rc-service auditd start >&2
	fi
}
# remove_archive FILE: one archived journal file, quietly (the vacuum record
# above says it).
remove_archive() {
	if ! inside /var/log/journal "$1"; then return 0; fi
	overwrite "$1"
	rm -f -- "$1"
}
audit_logs=$(find "$logdir/audit" -xdev -type f -size +0 -exec printf x \; 2>/dev/null)
restart_auditd=0
if [ -n "$audit_logs" ] && auditd_running; then
	rec change stop auditd "started again after truncating /var/log/audit"
	if ! dry_run; then
		stop_auditd || fail "cannot stop auditd before truncating its log"
		restart_auditd=1
	fi
fi

# Names travel NUL-separated (find_each): a name holding a newline is one
# path, never two.
find_each clean_log "$logdir" -xdev -path "$logdir/journal" -prune -o -type f
for utmp in "$AMIH_ROOT/run/utmp" "$AMIH_ROOT/var/run/utmp"; do
	[ -L "$utmp" ] || truncate_file "$utmp"
done
# lastlog2 (Debian 13, util-linux 2.40+) keeps the last logins in SQLite
# outside /var/log; an empty file is an empty database. Its journals go too:
# one left with content would be rolled back into the emptied database.
# A /var/lib/lastlog that is itself a link is not the image's: left alone,
# as a linked /var/log is.
lastlog2=$AMIH_ROOT/var/lib/lastlog
if [ -d "$lastlog2" ] && [ ! -L "$lastlog2" ]; then
	for db in "$lastlog2/lastlog2.db" "$lastlog2/lastlog2.db-journal" "$lastlog2/lastlog2.db-wal" "$lastlog2/lastlog2.db-shm"; do
		truncate_file "$db" "$lastlog2"
	done
fi

# wtmpdb (util-linux's successor of wtmp) keeps its database in
# /var/lib/wtmpdb by default; Debian links /var/log/wtmp.db to it.
wtmpdb=$AMIH_ROOT/var/lib/wtmpdb
if [ -d "$wtmpdb" ] && [ ! -L "$wtmpdb" ]; then
	for db in "$wtmpdb/wtmp.db" "$wtmpdb/wtmp.db-journal" "$wtmpdb/wtmp.db-wal" "$wtmpdb/wtmp.db-shm"; do
		truncate_file "$db" "$wtmpdb"
	done
fi

if [ "$restart_auditd" = 1 ]; then
	start_auditd || rec warn "auditd did not start again"
fi

# The journal: rotate, so that the active files are archived, then remove
# every archive (overwritten first, like every file of this step). Not only
# `journalctl --vacuum-time=1s`: it keeps an archive whose entries it finds
# younger than the limit, which an archive made by the rotation just before
# can be; an archived file is closed for good, journald never writes to it
# again. The vacuum then catches what the names below do not.
if [ "$AMIH_KEEP_JOURNAL" != 1 ] && [ -z "$AMIH_ROOT" ] && [ -d /var/log/journal ] && ! have journalctl; then
	rec warn "left the journal in /var/log/journal alone: journalctl is not installed"
elif [ "$AMIH_KEEP_JOURNAL" != 1 ] && [ -z "$AMIH_ROOT" ] && [ -d /var/log/journal ]; then
	kib=$(du -sk /var/log/journal 2>/dev/null | awk '{ print $1 }')
	archived=$(find /var/log/journal -type f \( -name '*@*.journal' -o -name '*.journal~' \) | wc -l)
	rec count journal_kib_before "${kib:-0}"
	if [ "$archived" -gt 0 ] || [ "${kib:-0}" -gt 16384 ]; then
		rec change vacuum /var/log/journal "${kib}KiB"
		if ! dry_run; then
			journalctl --rotate >&2 2>/dev/null || rec warn "journalctl --rotate failed"
			find_each remove_archive /var/log/journal -xdev -type f \( -name '*@*.journal' -o -name '*.journal~' \)
			journalctl --vacuum-time=1s >/dev/null 2>&1 || rec warn "journalctl --vacuum-time=1s failed"
		fi
	fi
fi
