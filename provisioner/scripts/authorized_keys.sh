# shellcheck shell=sh
# authorized_keys: remove authorized_keys and authorized_keys2 of root and
# every passwd user, and every AuthorizedKeysFile location sshd uses.
# inputs: AMIH_KEEP_USERS (one user per line)
#
# Only free_space, final_shutdown (nothing a connection needs) and the
# read-only checks come after it: the build goes on over the SSH
# connection that is already open, which sshd never checks again.

configured=$(authorized_key_files)
if command=$(keys_command) && [ -n "$command" ]; then
	rec info "sshd also takes keys from AuthorizedKeysCommand $command: left alone, it answers with each instance's own keys"
fi

kept() { printf '%s\n' "${AMIH_KEEP_USERS:-}" | grep -qxF -- "$1"; }

# shared: the AuthorizedKeysFile locations that are one file for every user
# (absolute, without %h, %u or %U, e.g. /etc/ssh/breakglass_keys). With
# keep_users they stay: they may hold a kept user's keys.
shared=
set -f
for pattern in $configured; do
	case $pattern in
	/*%[huU]*) ;;
	/*) shared="$shared$(expand_tokens "$pattern" "" "" "")$nl" ;;
	esac
done
set +f
shared_kept=

clean_user() {
	if kept "${1%%"$tab"*}"; then
		rec info "kept the keys of ${1%%"$tab"*} (keep_users)"
		return 0
	fi
	_home=${1#*"$tab"}
	each_line "$(authorized_key_paths "$configured" "$1")" remove_key_file
}
# listed PATH LIST: PATH is one of the newline-separated LIST.
listed() { case $nl$2 in *"$nl$1$nl"*) return 0 ;; esac; return 1; }
# remove_key_file PATH: a key file in the home is removed only when no link
# on its way leads out of the home.
remove_key_file() {
	if [ -n "${AMIH_KEEP_USERS:-}" ] && listed "$1" "$shared"; then
		case $nl$shared_kept in *"$nl$1$nl"*) ;; *)
			shared_kept="$shared_kept$1$nl"
			rec info "kept $1: every user's AuthorizedKeysFile, and it may hold the keys of keep_users"
			;;
		esac
		return 0
	fi
	case $1 in
	"$_home"/*) remove_file "$AMIH_ROOT$1" "$AMIH_ROOT$_home" ;;
	*) remove_file "$AMIH_ROOT$1" ;;
	esac
}

each_home all clean_user
no_reconnect "authorized_keys removed the keys the build connects with"
