# shellcheck shell=sh
# lib.sh: helpers shared by every step script. The plugin sends this file
# followed by one step script to `sh`; inputs arrive as AMIH_* environment
# variables and results leave as records on stdout (see protocol.go):
#
#   amih:<kind><TAB><field><TAB><field>...
#
# kinds: fact KEY VALUE | change VERB TARGET [DETAIL] | info TEXT |
#        finding CHECK TARGET [DETAIL] |
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

# missing_tools: print which of the commands every step may use without
# asking `have` first are not on PATH (the probe fails the run on them).
# Anything else a step uses is optional: it checks with `have` and says what
# it skipped.
missing_tools() {
	_missing=
	for _tool in awk sed grep find xargs sort head tail tr cut wc cat rm mkdir chmod ln cp touch ls id uname basename dirname sleep mktemp; do
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

# holds_mount DIR: a filesystem is mounted on DIR or below it (rm -rf would
# cross into it).
holds_mount() {
	[ -r "$AMIH_ROOT/proc/mounts" ] || return 1
	awk -v d="${1#"$AMIH_ROOT"}" '{ gsub(/\\040/, " ", $2) } $2 == d || index($2, d "/") == 1 { found = 1 } END { exit !found }' "$AMIH_ROOT/proc/mounts"
}

# remove_tree PATH: remove a directory and all it holds (or a file); a
# directory that holds a mount point is left alone.
remove_tree() {
	if [ -L "$1" ] || [ -f "$1" ]; then
		remove_file "$1"
	elif [ -d "$1" ] && holds_mount "$1"; then
		rec warn "left ${1#"$AMIH_ROOT"} alone: a filesystem is mounted in it"
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

# truncate_file PATH: empty a non-empty regular file in place, keeping its
# owner, mode and inode (a program holding it open keeps writing to it).
truncate_file() {
	if [ -f "$1" ] && [ ! -L "$1" ] && [ -s "$1" ]; then
		rec change truncate "${1#"$AMIH_ROOT"}"
		dry_run || : >"$1" || fail "cannot truncate ${1#"$AMIH_ROOT"}"
	fi
}

# write_file PATH CONTENT: make PATH hold exactly CONTENT (keeping the owner
# and mode of an existing file); reports a change only when it differs.
write_file() {
	if [ -f "$1" ] && [ "$(cat "$1"; echo x)" = "$2${nl}x" ]; then
		return 0
	fi
	rec change write "${1#"$AMIH_ROOT"}"
	dry_run || printf '%s\n' "$2" >"$1" || fail "cannot write ${1#"$AMIH_ROOT"}"
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

# private_key FILE: true when FILE starts with a private-key header.
private_key() { head -c 100 "$1" 2>/dev/null | grep -q -- '-----BEGIN .*PRIVATE KEY-----'; }

# sshd_with_key ARG...: run sshd ARG... (-t or -T); once the host keys are
# gone, a throw-away key stands in (sshd checks nothing without one).
sshd_with_key() {
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
sshd_T() {
	[ -z "$AMIH_ROOT" ] && have sshd || return 1
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

# authorized_key_paths CONFIGURED USER<TAB>HOME: every authorized_keys file
# sshd reads for USER (CONFIGURED from authorized_key_files), absolute, each
# once.
authorized_key_paths() {
	_user=${2%%"$tab"*}
	_home=${2#*"$tab"}
	_seen=$nl
	set -f
	for _file in .ssh/authorized_keys .ssh/authorized_keys2 $1; do
		[ "$_file" = none ] && continue
		_file=$(expand_tokens "$_file" "$_user" "$_home")
		case $_file in /*) ;; *) _file=$_home/$_file ;; esac
		case $_seen in *"$nl$_file$nl"*) continue ;; esac
		_seen="$_seen$_file$nl"
		printf '%s\n' "$_file"
	done
	set +f
}

# expand_tokens PATTERN USER HOME: sshd's %h, %u and %% tokens, expanded.
expand_tokens() {
	printf '%s' "$1" | awk -v user="$2" -v home="$3" '{
		out = ""
		for (i = 1; i <= length($0); i++) {
			c = substr($0, i, 1)
			if (c == "%" && i < length($0)) {
				t = substr($0, ++i, 1)
				if (t == "h") c = home; else if (t == "u") c = user; else if (t == "%") c = "%"; else c = "%" t
			}
			out = out c
		}
		print out
	}'
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
	sendmail) find "$AMIH_ROOT/var/spool/mqueue" -type f -name 'qf*' 2>/dev/null | wc -l ;;
	*) echo 0 ;;
	esac
}
