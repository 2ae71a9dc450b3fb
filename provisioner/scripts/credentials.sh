# shellcheck shell=sh
# credentials: remove well-known third-party credentials of every user, and
# the paths the template lists.
# inputs: AMIH_PATHS (absolute paths, one per line), AMIH_KEEP_KNOWN_HOSTS
#         (1 or 0)
# The credential files are listed in lib.sh (amih_credential_files, _trees).
# Nothing is removed through a link that leads out of the home it is in.

# clean_home USER<TAB>HOME
clean_home() {
	_home=$AMIH_ROOT${1#*"$tab"}
	each_line "$amih_credential_files" remove_credential_file "$_home"
	each_line "$amih_credential_trees" remove_credential_tree "$_home"
	# Private keys in ~/.ssh (public keys and config stay), and the hosts
	# the build talked to (known_hosts, unless keep_known_hosts).
	[ -d "$_home/.ssh" ] && [ ! -L "$_home/.ssh" ] || return 0
	if [ "${AMIH_KEEP_KNOWN_HOSTS:-0}" != 1 ]; then
		remove_file "$_home/.ssh/known_hosts" "$_home"
		remove_file "$_home/.ssh/known_hosts.old" "$_home"
	fi
	for key in "$_home"/.ssh/* "$_home"/.ssh/.[!.]* "$_home"/.ssh/..?*; do
		if [ -f "$key" ] && [ ! -L "$key" ] && private_key "$key"; then
			remove_file "$key" "$_home"
		fi
	done
}
remove_credential_file() {
	if [ -L "$1/$2" ] || { [ -f "$1/$2" ] && holds_credentials "$1/$2"; }; then
		remove_file "$1/$2" "$1"
	fi
}
remove_credential_tree() { remove_tree "$1/$2" "$1"; }
# A listed path is the user's own: links on its way are followed.
remove_listed_path() { remove_tree "$AMIH_ROOT$1" "$AMIH_ROOT/"; }

each_home all clean_home
remove_file "$AMIH_ROOT/etc/chef/client.pem"
remove_file "$AMIH_ROOT/etc/chef/validation.pem"
each_line "${AMIH_PATHS:-}" remove_listed_path
