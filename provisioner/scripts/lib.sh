# shellcheck shell=sh
# lib.sh: helpers shared by every step script. The plugin sends this file
# followed by one step script to `sh`; inputs arrive as AMIH_* environment
# variables and results leave as records on stdout (see protocol.go):
#
#   amih:<kind><TAB><field><TAB><field>...
#
# kinds: fact KEY VALUE | change VERB TARGET [DETAIL] | info TEXT |
#        warn TEXT | count NAME N | reboot REASON | output ID TEXT | error TEXT
# Fields escape backslash, tab and newline as \\, \t and \n.
# Anything else on stdout or stderr is shown to the user as it is.
#
# AMIH_ROOT (default empty) prefixes every file path the scripts touch, so that
# tests can run a script against a directory tree instead of the real /.
set -u
export LC_ALL=C
AMIH_ROOT=${AMIH_ROOT:-}
AMIH_DRY_RUN=${AMIH_DRY_RUN:-0}
tab=$(printf '\t')
nl='
'

# amih_field VALUE: VALUE escaped for a record field.
amih_field() {
	case $1 in
	*\\* | *"$tab"* | *"$nl"*)
		printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/$tab/\\\\t/g" |
			awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }'
		;;
	*) printf '%s' "$1" ;;
	esac
}

# rec KIND FIELD...: print one record.
rec() {
	_line="amih:$1"
	shift
	for _f in "$@"; do
		_line="$_line$tab$(amih_field "$_f")"
	done
	printf '%s\n' "$_line"
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

# remove_file PATH: remove a regular file or a symbolic link (never what the
# link points to). Directories, devices and missing paths are left alone, and
# a path is handled once even when several patterns match it.
amih_seen=
remove_file() {
	case "$nl$amih_seen$nl" in *"$nl$1$nl"*) return 0 ;; esac
	amih_seen="$amih_seen$nl$1"
	if [ -L "${1%/*}" ]; then
		rec warn "left ${1#"$AMIH_ROOT"} alone: its directory is a symbolic link"
	elif [ -L "$1" ] || [ -f "$1" ]; then
		rec change remove "${1#"$AMIH_ROOT"}"
		dry_run || rm -f -- "$1" || fail "cannot remove ${1#"$AMIH_ROOT"}"
	fi
}

# remove_tree PATH: remove a directory and all it holds (or a file).
remove_tree() {
	if [ -L "$1" ] || [ -f "$1" ]; then
		remove_file "$1"
	elif [ -d "$1" ]; then
		rec change remove "${1#"$AMIH_ROOT"}/"
		dry_run || rm -rf -- "$1" || fail "cannot remove ${1#"$AMIH_ROOT"}"
	fi
}

# user_homes: print "user<TAB>home" for root and every passwd user whose home
# directory exists (each home once; / and /nonexistent are skipped).
user_homes() {
	awk -F: -v root="$AMIH_ROOT" '
		$6 == "" || $6 == "/" || $6 ~ /^\/nonexistent/ { next }
		seen[$6]++ { next }
		{ print $1 "\t" $6 }' "$AMIH_ROOT/etc/passwd" |
		while IFS="$tab" read -r _user _home; do
			[ -d "$AMIH_ROOT$_home" ] && [ ! -L "$AMIH_ROOT$_home" ] && printf '%s\t%s\n' "$_user" "$_home"
		done
	return 0
}

# unit_load_state UNIT: systemd's LoadState of UNIT (loaded, not-found, ...);
# `systemctl show --value` is newer than Amazon Linux 2's systemd.
unit_load_state() { systemctl show -p LoadState -- "$1" 2>/dev/null | sed -n 's/^LoadState=//p'; }

# seconds_since_boot: whole seconds of uptime.
seconds_since_boot() { awk '{ printf "%d\n", $1 }' /proc/uptime; }
