# shellcheck shell=sh
# lib.sh: helpers shared by every step script. The plugin sends this file
# followed by one step script to `sh`; inputs arrive as AMIH_* environment
# variables and results leave as records on stdout (see protocol.go):
#
#   amih:<kind><TAB><field><TAB><field>...
#
# The kinds and the verbs of change records are declared once, in
# provisioner/wire.go (recordKinds, actionVerbs).
# Fields escape backslash, tab and newline as \\, \t and \n.
# Anything else on stdout or stderr is shown to the user (control
# characters escaped).
#
# AMIH_ROOT (default empty) prefixes every file path the scripts touch, so that
# tests can run a script against a directory tree instead of the real /.
set -u
export LC_ALL=C
# The boot's shell hands the script to sh on descriptor 3 (session.go), and
# sh reads it through a descriptor of its own: nothing the script starts
# holds the frame's pipe.
exec 3<&-
AMIH_ROOT=${AMIH_ROOT:-}
AMIH_DRY_RUN=${AMIH_DRY_RUN:-0}
tab='	' # a tab (no subshell)
nl='
'

# amih_field VALUE: VALUE escaped for a record field.
amih_field() {
	case $1 in
	*\\* | *"$tab"* | *"$nl"*)
		# The "." keeps a trailing newline a line of its own for awk.
		printf '%s.' "$1" | sed -e 's/\\/\\\\/g' -e "s/$tab/\\\\t/g" |
			awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }' | sed 's/\.$//'
		;;
	*) printf '%s' "$1" ;;
	esac
}

# escape TEXT: amih_escaped is TEXT as amih_field writes it, with no
# subshell for the usual text (no backslash, tab or newline).
escape() {
	case $1 in
	*\\* | *"$tab"* | *"$nl"*) amih_escaped=$(amih_field "$1") ;;
	*) amih_escaped=$1 ;;
	esac
}

# rec KIND FIELD...: print one record.
rec() {
	_line="amih:$1"
	shift
	for _f in "$@"; do
		escape "$_f"
		_line="$_line$tab$amih_escaped"
	done
	printf '%s\n' "$_line"
}

# The completion record. The plugin counts a script as run only when its
# last record is `done` with this run's token, which the plugin puts at the
# top of the script as a plain (never exported) variable: no command the
# script runs can see it, and a shell that did not run the script cannot
# print it. The EXIT trap also removes the script's temporary files.
amih_token=${amih_token:-}
amih_temps=
# The guest's own time on this script, from /proc/uptime (Linux; nothing
# elsewhere) at its start and its end, in the completion record: the report's
# guest_seconds, which tells the guest's work from the plugin's own cost.
amih_started=
read -r amih_started _ 2>/dev/null </proc/uptime || amih_started=
amih_exit() {
	_status=$?
	trap '' HUP INT TERM
	at_exit
	# The script's temporary files go in one rm (their removal is the
	# script's work: before its end is read).
	if [ -n "$amih_temps" ]; then
		set --
		while IFS= read -r _t; do
			[ -z "$_t" ] || set -- "$@" "$_t"
		done <<TEMPS
$amih_temps
TEMPS
		[ "$#" = 0 ] || rm -rf -- "$@"
	fi
	_ended=
	read -r _ended _ 2>/dev/null </proc/uptime || _ended=
	rec "done" "$amih_token" "$_status" "$amih_started" "$_ended"
}
trap amih_exit EXIT
# dash and busybox sh run no EXIT trap when a signal ends them: TERM (the
# step's deadline), INT and HUP (a cut session) exit through it, so that
# temporary files go and at_exit undoes what a script changed for a while.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# at_exit: what a script must undo on every way out (free_space sets the
# filesystems' reserves back); a script that needs it defines its own.
# shellcheck disable=SC2317 # called by amih_exit, redefined by scripts
at_exit() { :; }

# temp_file [DIR]: set amih_tmp to a new private temporary file in DIR
# (default ${TMPDIR:-/tmp}), removed when the script exits.
temp_file() {
	amih_tmp=$(mktemp "${1:-${TMPDIR:-/tmp}}/.ami-hygiene.XXXXXX") || return 1
	amih_temps="$amih_temps$amih_tmp$nl"
}

# helper_install: make the plugin's guest helper (guest_helper.go) ready to
# run. The plugin uploaded it as the SSH user to AMIH_HELPER; it is copied
# into a new private folder of root on a tmpfs (never the image's disk:
# /dev/shm, /run, /tmp, the first that lets it run; Debian's initramfs
# mounts /run noexec), its SHA-256 checked there against
# AMIH_HELPER_SHA256, and run once (`check`); the upload goes once copied
# (or when the script exits), the folder when the script exits. Sets
# amih_helper to its path, or helper_why to why it cannot run (the step
# then does the work in sh).
# shellcheck disable=SC2034 # read by the scripts that use the helper
amih_helper=
helper_install() {
	amih_helper='' helper_why=${AMIH_HELPER_WHY:-}
	if [ -z "${AMIH_HELPER:-}" ]; then
		helper_why=${helper_why:-the plugin sent no guest helper}
		return 1
	fi
	amih_temps="$amih_temps$AMIH_HELPER$nl"
	if ! have sha256sum; then
		helper_why="sha256sum is not installed: the guest helper's hash cannot be checked"
		return 1
	fi
	helper_why="there is no tmpfs (/dev/shm, /run, /tmp) to run the guest helper from"
	_hsrc=$AMIH_HELPER _hprev=
	for _hbase in /dev/shm /run /tmp; do
		[ "$(stat -f -c %T "$_hbase" 2>/dev/null)" = tmpfs ] || continue
		_hdir=$(mktemp -d "$_hbase/.ami-hygiene.XXXXXX" 2>/dev/null) || continue
		amih_temps="$amih_temps$_hdir$nl"
		if ! cp -- "$_hsrc" "$_hdir/helper" 2>/dev/null; then
			helper_why="the guest helper's upload cannot be read"
			return 1
		fi
		# The upload goes at once (where /tmp is on the image's disk, its
		# blocks are free before free_space reads them); a copy that could
		# not run goes once copied to the next place.
		if [ -n "$_hprev" ]; then rm -rf -- "$_hprev"; else rm -f -- "$AMIH_HELPER"; fi
		_hsum=$(sha256sum "$_hdir/helper" 2>/dev/null </dev/null)
		if [ "${#AMIH_HELPER_SHA256}" != 64 ] || [ "${_hsum%% *}" != "$AMIH_HELPER_SHA256" ]; then
			helper_why="the guest helper's SHA-256 is not the one the plugin sent"
			return 1
		fi
		chmod 0700 "$_hdir/helper"
		if [ "$("$_hdir/helper" check 2>/dev/null </dev/null)" = ok ]; then
			# shellcheck disable=SC2034 # read by the scripts that use the helper
			amih_helper=$_hdir/helper
			return 0
		fi
		_hsrc=$_hdir/helper _hprev=$_hdir
		helper_why="the guest helper does not run from /dev/shm, /run or /tmp (mounted noexec?)"
	done
	return 1
}

# fail TEXT: report why the step failed and stop it.
fail() {
	rec error "$1"
	exit 1
}

# dry_run: true when the step must only report what it would change.
dry_run() { [ "$AMIH_DRY_RUN" = 1 ]; }

# have COMMAND: true when COMMAND is on PATH.
have() { command -v "$1" >/dev/null 2>&1; }

# kernel_fact FILE [COMMAND...]: set amih_fact to the first line of FILE
# (a file of Linux's /proc, read with the shell's own `read`: no program
# started), or, where it cannot be read, to COMMAND's output (empty
# without a COMMAND).
kernel_fact() {
	_file=$1
	shift
	if [ -r "$_file" ] && IFS= read -r amih_fact <"$_file" && [ -n "$amih_fact" ]; then
		return 0
	fi
	amih_fact=
	[ "$#" -eq 0 ] || amih_fact=$("$@" 2>/dev/null)
}

# missing_tools: print which of the commands every step may use without
# asking `have` first are not on PATH (the probe fails the run on them).
# Anything else a step uses is optional: it checks with `have` and says what
# it skipped.
missing_tools() {
	_missing=
	for _tool in awk sed grep find xargs sort head tail tr cut wc cat rm mkdir chmod ln cp mv touch ls id uname basename dirname sleep mktemp od dd df; do
		have "$_tool" || _missing="$_missing $_tool"
	done
	printf '%s' "${_missing# }"
}

# each_line VALUE FUNCTION [ARG...]: call FUNCTION ARG... LINE for every
# non-empty line of VALUE (list inputs are newline-separated).
each_line() {
	_list=$1
	shift
	while IFS= read -r _item; do
		[ -n "$_item" ] || continue
		"$@" "$_item" || return 1
	done <<LIST
$_list
LIST
}

# shown PATH: PATH as the user sees it on the guest (without AMIH_ROOT).
shown() { printf '%s' "${1#"$AMIH_ROOT"}"; }

# real_dir DIR: set amih_real to DIR with every symbolic link resolved
# (pwd -P); false when DIR is not a directory that can be entered. A name
# that ends in a newline survives (the trailing "." trick).
real_dir() {
	amih_real=$(cd -P "$1" 2>/dev/null && pwd -P && echo .) || return 1
	amih_real=${amih_real%"$nl."}
}

# inside TREE PATH: PATH's directory, every link on the way resolved, is TREE
# or below it (TREE's links resolved too): what is done to PATH stays in TREE.
inside() {
	real_dir "$1" || return 1
	_tree=${amih_real%/}
	real_dir "${2%/*}/" || return 1
	case $amih_real/ in "$_tree"/*) return 0 ;; esac
	return 1
}

# stays_inside PATH [TREE]: true when PATH's way stays inside TREE (inside;
# TREE defaults to PATH's own directory); otherwise it says which path it
# leaves alone, and why.
stays_inside() {
	inside "${2:-${1%/*}/}" "$1" && return 0
	rec warn "left $(shown "$1") alone: a symbolic link on its way leads out of $(shown "${2:-${1%/*}}")"
	return 1
}

# amih_seen: the paths a removal already handled, each escaped as one line
# (so that a name holding a newline cannot stand for another path).
amih_seen=
# seen_once PATH: true the first time PATH is asked about.
seen_once() {
	escape "$1"
	case "$nl$amih_seen$nl" in *"$nl$amih_escaped$nl"*) return 1 ;; esac
	amih_seen="$amih_seen$nl$amih_escaped"
}

# amih_overwrite: 1 when the step handles secrets (its stepDef says so, as
# AMIH_OVERWRITE): what it removes or empties is overwritten with zeros
# first, so that the freed blocks of the image do not hold it. A script may
# set it for one file of its own (caches: /etc/shadow-).
amih_overwrite=${AMIH_OVERWRITE:-0}
amih_overwritten=0

# on_block_device PATH: PATH lies on a filesystem of a block device (df's
# source is a /dev path): a tmpfs or a network filesystem is not in the
# image, and nothing there is worth overwriting.
on_block_device() {
	case $(df -P "$1" 2>/dev/null | awk 'NR == 2 { print $1 }') in /dev/*) return 0 ;; esac
	return 1
}

# file_facts FILE: set amih_links (its names), amih_size (its apparent size
# in bytes) and amih_alloc (the bytes its blocks hold) of a regular file,
# from one `ls -lnsd` (GNU and busybox print the same columns); false when
# they cannot be read.
file_facts() {
	# shellcheck disable=SC2012 # only the leading numeric columns are read
	_ff=$(ls -lnsd -- "$1" 2>/dev/null | head -n 1)
	# Split on blanks whatever IFS the caller has set.
	IFS=' ' read -r _ff_blocks _ff_mode _ff_links _ff_uid _ff_gid _ff_size _ff_rest <<FACTS
$_ff
FACTS
	case $_ff_blocks$_ff_links$_ff_size in '' | *[!0-9]*) return 1 ;; esac
	[ -n "$_ff_rest" ] || return 1
	amih_alloc=$((_ff_blocks * 1024)) amih_links=$_ff_links amih_size=$_ff_size
}

# sparse: the file file_facts read has holes (its blocks hold less than its
# size: /var/log/lastlog after a login by a uid of 10^9 is 300 GB to read,
# a few KB on the disk). Writing zeros over it would fill the disk: it is
# emptied or removed without them, and free_space clears what its few
# blocks held.
sparse() { [ "$amih_alloc" -lt "$amih_size" ]; }

# overwrite FILE: when amih_overwrite is 1, write zeros over every byte of
# FILE in place and sync them, before FILE is removed or emptied. Only a
# regular file (never through a link) with no other name (a hard link's
# other name would lose its content too), that is not sparse (sparse), on a
# filesystem of a block device (a tmpfs or a network filesystem is not part
# of the image). Never in dry run. Sets amih_overwritten to the bytes
# overwritten.
overwrite() {
	amih_overwritten=0
	[ "$amih_overwrite" = 1 ] || return 0
	dry_run && return 0
	[ -f "$1" ] && [ ! -L "$1" ] && [ -s "$1" ] || return 0
	file_facts "$1" || return 0
	if [ "$amih_links" -gt 1 ]; then
		rec info "did not overwrite $(shown "$1") before removing it: another name (a hard link) keeps its content"
		return 0
	fi
	if sparse; then
		rec info "did not overwrite $(shown "$1"): a sparse file ($amih_size bytes, $amih_alloc on the disk); free_space clears its blocks"
		return 0
	fi
	on_block_device "$1" || return 0
	# dd writes exactly the bytes head gives it, in place (notrunc), and
	# syncs them (fsync) before the file goes.
	if head -c "$amih_size" /dev/zero | dd of="$1" bs=65536 conv=notrunc,fsync 2>/dev/null; then
		amih_overwritten=$amih_size
	else
		rec warn "could not overwrite $(shown "$1") before removing it"
	fi
}

# change_overwritten VERB TARGET: the change record of a removal or an
# emptying, saying how many bytes overwrite wrote over first, if any.
change_overwritten() {
	if [ "$amih_overwritten" -gt 0 ]; then
		rec change "$1" "$2" "overwritten first ($amih_overwritten bytes)"
	else
		rec change "$1" "$2"
	fi
}

# remove_file PATH [TREE]: remove PATH when it is a regular file or a
# symbolic link (the link, never what it points to). TREE is what the step
# cleans (default: PATH's own directory): when a link on PATH's way leads out
# of it, PATH is left alone with a warning. Directories, devices and missing
# paths are left alone, and a path is handled once even when several
# patterns match it. A file is overwritten first (overwrite).
remove_file() {
	seen_once "$1" || return 0
	[ -L "$1" ] || [ -f "$1" ] || return 0
	stays_inside "$@" || return 0
	overwrite "$1"
	change_overwritten remove "$(shown "$1")"
	dry_run || rm -f -- "$1" || fail "cannot remove $(shown "$1")"
}

# no_reconnect REASON: tell the rest of this build that a new SSH
# connection may now fail. The note lives in /run (in memory, gone at the
# next boot, never in the image); the plugin refuses to reboot while it is
# there, in this run and in a later ami-hygiene provisioner of the build.
no_reconnect() {
	dry_run && return 0
	if ! { mkdir -p "$AMIH_ROOT/run/ami-hygiene" && printf '%s\n' "$1" >>"$AMIH_ROOT/run/ami-hygiene/no-reconnect"; }; then
		rec warn "cannot write /run/ami-hygiene/no-reconnect"
	fi
}

# mount_table: every line of /proc/mounts as "SOURCE<TAB>TYPE<TAB>OPTIONS<TAB>
# MOUNT POINT", the mount point in the escaping of record fields
# (amih_field: \\, \t, \n), so that a name holding a newline or a tab stays
# one field of one line. /proc/mounts escapes space, tab, newline and
# backslash in octal (\040, \011, \012, \134): every octal escape is decoded
# first.
mount_table() {
	[ -r "$AMIH_ROOT/proc/mounts" ] || return 0
	awk "$amih_awk_mount_field"'
	{ print $1 "\t" $3 "\t" $4 "\t" mount_field($2) }' "$AMIH_ROOT/proc/mounts"
}

# amih_awk_mount_field: the awk function mount_field(s), a field of
# /proc/mounts or /proc/self/mountinfo with its octal escapes decoded, in
# the escaping of record fields (as mount_table says).
amih_awk_mount_field='function mount_field(s,   out, i, c) {
	out = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (c == "\\" && substr(s, i + 1, 3) ~ /^[0-7][0-7][0-7]$/) {
			c = sprintf("%c", substr(s, i + 1, 1) * 64 + substr(s, i + 2, 1) * 8 + substr(s, i + 3, 1))
			i += 3
		}
		if (c == "\\") c = "\\\\"; else if (c == "\t") c = "\\t"; else if (c == "\n") c = "\\n"
		out = out c
	}
	return out
}'

# mount_points: every mount point of /proc/mounts, one per line, escaped as
# mount_table says.
mount_points() { mount_table | cut -f 4-; }

# holds_mount DIR: a filesystem is mounted on DIR (a real path, links
# resolved, as the guest sees it) or below it: rm -rf would cross into it.
holds_mount() {
	_d=$(amih_field "${1%/}")
	while IFS= read -r _m; do
		case $_m in "$_d" | "$_d"/*) return 0 ;; esac
	done <<MOUNTS
$(mount_points)
MOUNTS
	return 1
}

# in_mount PATH MOUNTS: PATH (as the guest sees it) lies on one of MOUNTS
# (mount_points' lines) other than /: on another filesystem, or a bind
# mount that find -xdev does not see.
in_mount() {
	_p=$(amih_field "$1")
	while IFS= read -r _m; do
		case $_m in '' | /) continue ;; esac
		case $_p in "$_m"/*) return 0 ;; esac
	done <<MOUNTS
$2
MOUNTS
	return 1
}

# amih_real_root: AMIH_ROOT with its links resolved ("" on a real guest).
amih_real_root=
if [ -n "$AMIH_ROOT" ] && real_dir "$AMIH_ROOT"; then amih_real_root=$amih_real; fi

# remove_tree PATH [TREE]: remove a directory and all it holds (or a file or
# a link, as remove_file), under the same rule about TREE. A directory on
# which or below which a filesystem is mounted is left alone: rm -rf would
# cross into it.
remove_tree() {
	if [ -L "$1" ] || [ ! -d "$1" ]; then
		remove_file "$@"
		return
	fi
	seen_once "$1" || return 0
	stays_inside "$@" || return 0
	if ! real_dir "$1"; then
		rec warn "left $(shown "$1") alone: it cannot be entered"
	elif holds_mount "${amih_real#"$amih_real_root"}"; then
		rec warn "left $(shown "$1") alone: a filesystem is mounted in it"
	else
		overwrite_tree "$1"
		change_overwritten remove "$(shown "$1")/"
		dry_run || rm -rf -- "$1" || fail "cannot remove $(shown "$1")"
	fi
}

# overwrite_tree DIR: overwrite every regular file of DIR with no other
# name that is not sparse, on DIR's filesystem (find -xdev), as overwrite
# does one; amih_overwritten is the sum of their bytes.
overwrite_tree() {
	amih_overwritten=0
	[ "$amih_overwrite" = 1 ] && ! dry_run || return 0
	on_block_device "$1" || return 0
	_ot_sum=0
	find_each overwrite_one "$1" -xdev -type f -links 1 -size +0
	amih_overwritten=$_ot_sum
}
overwrite_one() {
	_ot_was=$_ot_sum
	overwrite "$1" 2>/dev/null
	_ot_sum=$((_ot_was + amih_overwritten))
}

# find_each FUNCTION DIR FIND-EXPRESSION...: call FUNCTION PATH for every
# path `find DIR FIND-EXPRESSION... -print0` prints, whatever bytes its name
# holds: names travel NUL-separated and as octal escapes, never split on
# newlines. The list goes through a private file, so FUNCTION runs in this
# shell (fail stops the step).
find_each() {
	_fe_fn=$1
	shift
	temp_file || fail "cannot create a temporary file"
	_fe_list=$amih_tmp
	find "$@" -print0 2>/dev/null | od -An -v -to1 |
		awk '{ for (i = 1; i <= NF; i++) if ($i == "000") { print n; n = "" } else n = n "\\0" $i }' >"$_fe_list"
	while IFS= read -r _fe_esc; do
		_fe_path=$(printf "%b." "$_fe_esc")
		"$_fe_fn" "${_fe_path%.}" || return 1
	done <"$_fe_list"
}

# user_homes all|login: print "user<TAB>home" for root and every passwd
# user whose home directory exists (each home once; / and /nonexistent are
# skipped), then every other folder directly under /home (and under
# useradd's HOME base of /etc/default/useradd), whether or not passwd still
# names its user (userdel without -r leaves it): its user is the folder's
# name. With `login`, only the homes of real users: root, accounts with a
# login shell (not nologin, false, sync, shutdown or halt), accounts whose
# uid is between UID_MIN and UID_MAX of /etc/login.defs (default 1000 and
# 60000), and those other folders — not the homes of system accounts such
# as daemon (/usr/sbin) or www-data (/var/www).
# A real user's passwd home that is a symbolic link (/home/u ->
# /data/home/u) is the folder it leads to, when that folder is owned by the
# user, is not / and is no other account's home, and lies in the image;
# otherwise the line is "!<TAB>why" (each_home says it). A system account's
# linked home (bin's /bin -> /usr/bin) is left out. Homes whose names hold a tab or a
# newline are left to the audit's search of the whole image.
user_homes() {
	AMIH_LOGIN_DEFS=$AMIH_ROOT/etc/login.defs awk -F: -v which="$1" '
		BEGIN {
			uid_min = 1000; uid_max = 60000
			while ((getline line < ENVIRON["AMIH_LOGIN_DEFS"]) > 0) {
				n = split(line, f, " ")
				if (n >= 2 && f[1] == "UID_MIN") uid_min = f[2] + 0
				if (n >= 2 && f[1] == "UID_MAX") uid_max = f[2] + 0
			}
		}
		$6 == "" || $6 == "/" || $6 ~ /^\/nonexistent/ { next }
		{ real = $1 == "root" || $7 !~ /(nologin|false|sync|shutdown|halt)$/ || ($3 + 0 >= uid_min && $3 + 0 <= uid_max) }
		which == "login" && !real { next }
		seen[$6]++ { next }
		{ print $1 "\t" $3 "\t" real "\t" $6 }' "$AMIH_ROOT/etc/passwd" |
		while IFS="$tab" read -r _user _uid _real _home; do
			if [ ! -L "$AMIH_ROOT$_home" ]; then
				[ -d "$AMIH_ROOT$_home" ] && printf '%s\t%s\n' "$_user" "$_home"
				continue
			fi
			# A system account's home that is a link (bin's /bin on a merged
			# /usr) is the system's, not a home to clean.
			if [ "$_real" != 1 ] || ! real_dir "$AMIH_ROOT$_home"; then
				continue
			fi
			case $amih_real in
			"$amih_real_root"/*) _to=${amih_real#"$amih_real_root"} ;;
			*) _to=/ ;;
			esac
			if [ "$_to" = / ]; then
				printf '!\tleft the home of %s alone: %s is a link that leads to / or out of the image\n' "$_user" "$_home"
			elif [ -z "$(find "$amih_real" -prune -user "$_uid" 2>/dev/null)" ]; then
				printf '!\tleft the home of %s alone: %s links to %s, a folder %s does not own\n' "$_user" "$_home" "$_to" "$_user"
			elif awk -F: -v u="$_user" -v h="$_to" '$1 != u && $6 == h { found = 1 } END { exit !found }' "$AMIH_ROOT/etc/passwd"; then
				printf '!\tleft the home of %s alone: %s links to %s, the home of another account\n' "$_user" "$_home" "$_to"
			else
				printf '%s\t%s\n' "$_user" "$_to"
			fi
		done
	_bases=/home
	_base=$(sed -n 's/^HOME=//p' "$AMIH_ROOT/etc/default/useradd" 2>/dev/null | tail -n 1)
	case $_base in /?*) [ "${_base%/}" = /home ] || _bases="$_bases$nl${_base%/}" ;; esac
	_known=$(awk -F: '{ print $6 }' "$AMIH_ROOT/etc/passwd")
	while IFS= read -r _base; do
		if [ ! -d "$AMIH_ROOT$_base" ] || [ -L "$AMIH_ROOT$_base" ]; then continue; fi
		for _d in "$AMIH_ROOT$_base"/* "$AMIH_ROOT$_base"/.[!.]*; do
			if [ ! -d "$_d" ] || [ -L "$_d" ]; then continue; fi
			_home=${_d#"$AMIH_ROOT"}
			case $_home in *"$tab"* | *"$nl"*) continue ;; esac
			case $nl$_known$nl in *"$nl$_home$nl"*) continue ;; esac
			printf '%s\t%s\n' "${_home##*/}" "$_home"
		done
	done <<BASES
$_bases
BASES
	return 0
}

# each_home all|login FUNCTION [ARG...]: call FUNCTION ARG... USER<TAB>HOME
# for every home user_homes lists; the homes it left alone are said once
# per script.
amih_homes_said=0
each_home() {
	_eh_list=$(user_homes "$1")
	shift
	while IFS= read -r _eh_line; do
		case $_eh_line in
		'') ;;
		"!$tab"*)
			[ "$amih_homes_said" = 1 ] || rec warn "${_eh_line#*"$tab"}"
			;;
		*) "$@" "$_eh_line" || return 1 ;;
		esac
	done <<HOMES
$_eh_list
HOMES
	amih_homes_said=1
}

# unit_load_state UNIT: systemd's LoadState of UNIT (loaded, not-found, ...);
# `systemctl show --value` is newer than Amazon Linux 2's systemd.
unit_load_state() { systemctl show -p LoadState -- "$1" 2>/dev/null | sed -n 's/^LoadState=//p'; }

# seconds_since_boot: whole seconds of uptime.
seconds_since_boot() { awk '{ printf "%d\n", $1 }' /proc/uptime; }

# truncate_file PATH [TREE]: empty a non-empty regular file in place,
# keeping its owner, mode and inode (a program holding it open keeps writing
# to it); under remove_file's rule about TREE, overwritten first as there.
# A file with another name (a hard link, e.g. a log shipper's archive) is
# never emptied: that name would lose its content too. This name is
# replaced by a new empty file of the same owner and mode, the other keeps
# the content. What is emptied is noted for the final shutdown (empty_again).
truncate_file() { empty_file truncate "$@"; }

# empty_file VERB PATH [TREE]: truncate_file, its change record saying VERB.
empty_file() {
	_verb=$1
	shift
	[ -f "$1" ] && [ ! -L "$1" ] || return 0
	stays_inside "$@" || return 0
	if [ ! -s "$1" ]; then
		# Empty already: noted all the same, for what comes later.
		dry_run || [ "$amih_empty_again" = 0 ] || empty_again "$1"
		return 0
	fi
	if file_facts "$1" && [ "$amih_links" -gt 1 ]; then
		rec change "$_verb" "$(shown "$1")" "another name (a hard link) keeps its content: this name was replaced by an empty file"
		dry_run && return 0
		# fail returns (1) only where the final shutdown redefines it.
		replace_empty "$1" || fail "cannot replace $(shown "$1") by an empty file" || return 1
	else
		overwrite "$1"
		change_overwritten "$_verb" "$(shown "$1")"
		dry_run && return 0
		# `true`, not `:`: a redirection that fails on a special builtin
		# ends dash and busybox sh before `fail` could say why.
		true >"$1" || fail "cannot empty $(shown "$1")" || return 1
	fi
	[ "$amih_empty_again" = 0 ] || empty_again "$1"
}

# replace_empty PATH: put a new empty file of PATH's owner and mode in
# PATH's place (renamed over it: the old inode keeps its other names).
replace_empty() {
	have stat || return 1
	_ids=$(stat -c '%u:%g %a' -- "$1") || return 1
	temp_file "${1%/*}" || return 1
	chown "${_ids% *}" "$amih_tmp" 2>/dev/null
	chmod "${_ids#* }" "$amih_tmp" && mv -f "$amih_tmp" "$1"
}

# amih_empty_again: 0 where what is emptied is not noted (the final
# shutdown itself).
amih_empty_again=1
# empty_again PATH: note PATH in /run/ami-hygiene/emptied (in memory, never
# in the image), whose files the final shutdown empties again when they
# have grown since (what rsyslog and the mail system write after the logs
# and mail_queue steps).
empty_again() {
	if [ -z "${amih_noted:-}" ]; then
		mkdir -p "$AMIH_ROOT/run/ami-hygiene" 2>/dev/null || return 0
		amih_noted=1
	fi
	escape "$(shown "$1")"
	printf '%s\n' "$amih_escaped" >>"$AMIH_ROOT/run/ami-hygiene/emptied" 2>/dev/null
}

# write_file PATH CONTENT: make PATH hold exactly CONTENT (a line is added
# at its end); reports a change only when it differs. The new content goes
# to a temporary file in the same folder, which takes the owner, mode and
# SELinux context of the file it replaces, then is renamed over it: on any
# failure (a full disk) the file stays as it was.
write_file() {
	if [ -f "$1" ] && [ "$(cat "$1"; echo x)" = "$2${nl}x" ]; then
		return 0
	fi
	rec change write "$(shown "$1")"
	dry_run && return 0
	replace_file "$1" "$2$nl" || fail "cannot write $(shown "$1") (left as it was)"
}

# replace_file PATH BYTES: write BYTES (exactly) into PATH atomically, as
# write_file says; false on any failure, with PATH untouched.
replace_file() {
	temp_file "${1%/*}" || return 1
	_new=$amih_tmp
	if [ -e "$1" ]; then
		cp -p "$1" "$_new" 2>/dev/null || chmod 0644 "$_new" || return 1
		if have chcon && have selinuxenabled && selinuxenabled; then chcon --reference="$1" "$_new" 2>/dev/null; fi
	else
		chmod 0644 "$_new" || return 1
	fi
	printf '%s' "$2" >"$_new" && mv -f "$_new" "$1"
}

# in_globs PATH GLOBS: true when PATH matches one of the newline-separated
# GLOBS (shell patterns: * also matches /).
in_globs() {
	_p=$1
	while IFS= read -r _g; do
		[ -n "$_g" ] || continue
		# shellcheck disable=SC2254 # the pattern is a pattern
		case $_p in $_g) return 0 ;; esac
	done <<GLOBS
$2
GLOBS
	return 1
}

# History files, relative to a home directory (shell_history, audit).
# .*history covers bash, zsh (.zsh_history, .zhistory), ash/sh, python,
# mysql, psql, sqlite, redis-cli (.rediscli_history) and node
# (.node_repl_history).
# shellcheck disable=SC2034 # used by the step scripts
amih_histories='.*history
.local/share/fish/fish_history
.config/fish/fish_history
.lesshst
.viminfo
.wget-hsts'

# Well-known third-party credential files and directories, relative to a
# home directory (credentials, audit).
# shellcheck disable=SC2034 # used by the step scripts
amih_credential_files='.aws/credentials
.docker/config.json
.git-credentials
.config/git/credentials
.netrc
.pgpass
.my.cnf
.npmrc
.pypirc
.config/gcloud/credentials.db
.config/gcloud/access_tokens.db
.config/gcloud/application_default_credentials.json
.azure/accessTokens.json
.azure/msal_token_cache.json
.azure/msal_token_cache.bin
.azure/service_principal_entries.json
.kube/config
.vault-token'
# shellcheck disable=SC2034 # used by the step scripts
amih_credential_trees='.aws/sso/cache
.aws/cli/cache
.config/gcloud/legacy_credentials
.chef'

# holds_credentials FILE: files that only hold credentials in some cases
# count only then.
holds_credentials() {
	case $1 in
	*/.docker/config.json) grep -q '"auth"' "$1" 2>/dev/null ;;
	*/.npmrc) grep -q -E '_authToken|_auth|_password' "$1" 2>/dev/null ;;
	*/.pypirc) grep -q -E '^[[:space:]]*password' "$1" 2>/dev/null ;;
	*) return 0 ;;
	esac
}

# holds_key FILE: FILE has a line with a public key (its type, then its
# base64 body; options may come first).
holds_key() {
	grep -q -E '(^|[[:space:]])(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp[0-9]+|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)[[:space:]]+AAAA' "$1" 2>/dev/null
}

# private_key FILE: true when FILE starts with a private-key header.
private_key() { head -c 100 "$1" 2>/dev/null | grep -q -- '-----BEGIN .*PRIVATE KEY-----'; }

# sshd_unit_options: the options the image's ssh service gives sshd on its
# command line (`-o "Key value"`), one a line, systemd's %% undone: EC2
# Instance Connect's drop-in for sshd.service (Amazon Linux 2023) or
# ssh.service (Ubuntu) sets AuthorizedKeysCommand that way, where no
# sshd_config shows it. Debian's and Ubuntu's ssh.service comes first: its
# Alias= makes an sshd.service link to it, whose own drop-in folder is not
# the one EC2 Instance Connect uses. The ExecStart that counts is systemd's:
# the unit file of the first folder that has it (/etc, /run, /usr/lib,
# /lib), then its drop-ins by name, a drop-in in /etc hiding one of the same
# name further down; the last ExecStart wins.
sshd_unit_options() {
	for _unit in ssh.service sshd.service; do
		_main='' _dropins=''
		for _d in /etc/systemd/system /run/systemd/system /usr/lib/systemd/system /lib/systemd/system; do
			if [ -z "$_main" ] && [ -f "$AMIH_ROOT$_d/$_unit" ]; then _main=$AMIH_ROOT$_d/$_unit; fi
			for _f in "$AMIH_ROOT$_d/$_unit.d"/*.conf; do
				[ -f "$_f" ] || continue
				case $nl$_dropins in *"/${_f##*/}$nl"*) continue ;; esac
				_dropins="$_dropins$_f$nl"
			done
		done
		[ -n "$_main" ] || continue
		printf '%s' "$_dropins" | awk -F/ 'NF { print $NF "/" $0 }' | sort | sed 's|^[^/]*/||' |
			{
				cat "$_main"
				echo
				while IFS= read -r _f; do
					cat "$_f"
					echo
				done
			} | awk '
			/^[ \t]*ExecStart[ \t]*=/ {
				last = $0
				sub(/^[ \t]*ExecStart[ \t]*=[ \t]*/, "", last)
			}
			END {
				# The words of the command line, with "..." and \047...\047 quoting.
				n = 0; word = ""; inword = 0; q = ""
				for (i = 1; i <= length(last); i++) {
					c = substr(last, i, 1)
					if (q != "") { if (c == q) q = ""; else word = word c; continue }
					if (c == "\"" || c == "\047") { q = c; inword = 1; continue }
					if (c == " " || c == "\t") { if (inword) { w[++n] = word; word = ""; inword = 0 }; continue }
					word = word c; inword = 1
				}
				if (inword) w[++n] = word
				for (i = 1; i <= n; i++) {
					opt = ""
					if (w[i] == "-o" && i < n) opt = w[++i]
					else if (substr(w[i], 1, 2) == "-o" && length(w[i]) > 2) opt = substr(w[i], 3)
					if (opt != "") { gsub(/%%/, "%", opt); print opt }
				}
			}'
		return 0
	done
}

# sshd_with_key ARG...: run sshd ARG... (-t or -T) with the options of the
# image's ssh service (sshd_unit_options); once the host keys are gone, a
# throw-away key stands in (sshd checks nothing without one).
sshd_with_key() {
	_opts=$(sshd_unit_options)
	while IFS= read -r _o; do
		if [ -n "$_o" ]; then set -- "$@" -o "$_o"; fi
	done <<OPTS
$_opts
OPTS
	if ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1; then
		sshd "$@"
		return
	fi
	if ! have ssh-keygen; then
		echo "no host key, and no ssh-keygen to make a throw-away one" >&2
		return 1
	fi
	_d=$(mktemp -d) || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$_d/key" >/dev/null 2>&1 && sshd "$@" -h "$_d/key"
	_rc=$?
	rm -rf "$_d"
	return $_rc
}

# sshd_T: sshd's effective configuration (`sshd -T`); fails without a usable
# sshd.
# (The script tests run with a PATH of shims only: an sshd there is a shim.)
sshd_T() {
	have sshd || return 1
	sshd_with_key -T 2>/dev/null
}

# authorized_key_files: sshd's AuthorizedKeysFile setting (tokens %h, %u,
# %%), or the default.
authorized_key_files() {
	_files=$(sshd_T | awk '$1 == "authorizedkeysfile" { $1 = ""; print }')
	if [ -z "$_files" ] && [ -r "$AMIH_ROOT/etc/ssh/sshd_config" ]; then
		_files=$(cat "$AMIH_ROOT/etc/ssh/sshd_config" "$AMIH_ROOT"/etc/ssh/sshd_config.d/*.conf 2>/dev/null |
			awk 'tolower($1) == "authorizedkeysfile" { $1 = ""; print; exit }')
	fi
	echo "${_files:-.ssh/authorized_keys .ssh/authorized_keys2}"
}

# keys_command: sshd's AuthorizedKeysCommand and the user it runs as, when
# one is set (EC2 Instance Connect: each instance's keys, fetched at login).
keys_command() {
	sshd_T | awk '
		$1 == "authorizedkeyscommand" && $2 != "none" { cmd = $0; sub(/^[^ ]* /, "", cmd); next }
		$1 == "authorizedkeyscommanduser" { user = $2 }
		END { if (cmd != "") print cmd " (run as " (user == "" ? "an unnamed user" : user) ")" }'
}

# authorized_key_paths CONFIGURED USER<TAB>HOME: every authorized_keys file
# sshd reads for USER (CONFIGURED from authorized_key_files), absolute, each
# once.
authorized_key_paths() {
	_user=${2%%"$tab"*}
	_home=${2#*"$tab"}
	_uid=$(awk -F: -v u="$_user" '$1 == u { print $3; exit }' "$AMIH_ROOT/etc/passwd")
	_seen=$nl
	set -f
	for _file in .ssh/authorized_keys .ssh/authorized_keys2 $1; do
		[ "$_file" = none ] && continue
		_file=$(expand_tokens "$_file" "$_user" "$_home" "$_uid")
		case $_file in /*) ;; *) _file=$_home/$_file ;; esac
		case $_seen in *"$nl$_file$nl"*) continue ;; esac
		_seen="$_seen$_file$nl"
		printf '%s\n' "$_file"
	done
	set +f
}

# expand_tokens PATTERN USER HOME UID: sshd's %h, %u, %U and %% tokens,
# expanded.
expand_tokens() {
	printf '%s' "$1" | awk -v user="$2" -v home="$3" -v uid="$4" '{
		out = ""
		for (i = 1; i <= length($0); i++) {
			c = substr($0, i, 1)
			if (c == "%" && i < length($0)) {
				t = substr($0, ++i, 1)
				if (t == "h") c = home; else if (t == "u") c = user; else if (t == "U") c = uid; else if (t == "%") c = "%"; else c = "%" t
			}
			out = out c
		}
		print out
	}'
}

# masked UNIT: the image masks UNIT (a link to /dev/null, a character
# device, in /etc/systemd/system): it never runs, whatever its vendor file
# says.
masked() {
	[ -L "$AMIH_ROOT/etc/systemd/system/$1" ] && [ -c "$AMIH_ROOT/etc/systemd/system/$1" ]
}

# cloud_init_runs: cloud-init is installed and runs at the next boot (not
# disabled by /etc/cloud/cloud-init.disabled, by cloud-init=disabled on the
# kernel command line or by masking its units); sets cfgs to its
# configuration files, one a line.
cloud_init_runs() {
	have cloud-init && [ ! -e "$AMIH_ROOT/etc/cloud/cloud-init.disabled" ] || return 1
	! grep -qs -E '(^|[[:space:]])cloud-init=disabled([[:space:]]|$)' "$AMIH_ROOT/proc/cmdline" || return 1
	! masked cloud-init.service && ! masked cloud-init-network.service || return 1
	cfgs=
	for _cf in "$AMIH_ROOT"/etc/cloud/cloud.cfg "$AMIH_ROOT"/etc/cloud/cloud.cfg.d/*.cfg; do
		if [ -f "$_cf" ]; then cfgs="$cfgs$_cf$nl"; fi
	done
	[ -n "$cfgs" ]
}

# each_lease FUNCTION: call FUNCTION PATH for the DHCP lease files of every
# client: dhclient, dhcpcd, NetworkManager's internal client, wicked.
each_lease() {
	for _lease in "$AMIH_ROOT"/var/lib/dhcp/*.leases "$AMIH_ROOT"/var/lib/dhcp/*.lease "$AMIH_ROOT"/var/lib/dhclient/*.lease* \
		"$AMIH_ROOT"/var/lib/dhcpcd/*.lease* "$AMIH_ROOT"/var/lib/dhcpcd5/*.lease* "$AMIH_ROOT"/var/lib/NetworkManager/*.lease \
		"$AMIH_ROOT"/var/lib/wicked/lease-*; do
		"$1" "$_lease"
	done
}

# mail_system: postfix, exim, sendmail or none.
mail_system() {
	if have postqueue && have postsuper; then
		echo postfix
	elif have exim4 || have exim; then
		echo exim
	elif have sendmail && [ -d "$AMIH_ROOT/var/spool/mqueue" ]; then
		echo sendmail
	else
		echo none
	fi
}

# queued MTA: how many messages the MTA's queue holds.
queued() {
	case $1 in
	postfix)
		_n=$(postqueue -p 2>/dev/null | tail -n 1 | sed -n 's/.* in \([0-9][0-9]*\) Request.*/\1/p')
		echo "${_n:-0}"
		;;
	exim) "$(command -v exim4 || command -v exim)" -bpc 2>/dev/null || echo 0 ;;
	sendmail) find "$AMIH_ROOT/var/spool/mqueue" -type f -name 'qf*' -exec printf 'x\n' \; 2>/dev/null | wc -l ;;
	*) echo 0 ;;
	esac
}
