# shellcheck shell=sh
# authorized_keys: remove authorized_keys and authorized_keys2 of root and
# every passwd user, and every AuthorizedKeysFile location sshd uses.
# inputs: AMIH_KEEP_USERS (one user per line)
#
# This is the last step that changes anything: the build goes on over the SSH
# connection that is already open, which sshd never checks again.

configured=$(authorized_key_files)

kept() { printf '%s\n' "${AMIH_KEEP_USERS:-}" | grep -qxF -- "$1"; }

clean_user() {
	_user=${1%%"$tab"*}
	_home=${1#*"$tab"}
	if kept "$_user"; then
		rec info "kept the keys of $_user (keep_users)"
		return 0
	fi
	set -f
	for file in .ssh/authorized_keys .ssh/authorized_keys2 $configured; do
		[ "$file" = none ] && continue
		file=$(expand_tokens "$file" "$_user" "$_home")
		case $file in /*) ;; *) file=$_home/$file ;; esac
		remove_file "$AMIH_ROOT$file"
	done
	set +f
}

each_line "$(user_homes)" clean_user
