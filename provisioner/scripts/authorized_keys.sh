# shellcheck shell=sh
# authorized_keys: remove authorized_keys and authorized_keys2 of root and
# every passwd user, and every AuthorizedKeysFile location sshd uses.
# inputs: AMIH_KEEP_USERS (one user per line)
#
# This is the last step that changes anything: the build goes on over the SSH
# connection that is already open, which sshd never checks again.

# key_files: sshd's AuthorizedKeysFile setting (tokens %h, %u, %%).
key_files() {
	if [ -z "$AMIH_ROOT" ] && have sshd && sshd -T >/dev/null 2>&1; then
		sshd -T 2>/dev/null | awk '$1 == "authorizedkeysfile" { $1 = ""; print }'
	elif [ -r "$AMIH_ROOT/etc/ssh/sshd_config" ]; then
		cat "$AMIH_ROOT/etc/ssh/sshd_config" "$AMIH_ROOT"/etc/ssh/sshd_config.d/*.conf 2>/dev/null |
			awk 'tolower($1) == "authorizedkeysfile" { $1 = ""; print; exit }'
	fi
}
configured=$(key_files)
[ -n "$configured" ] || configured='.ssh/authorized_keys .ssh/authorized_keys2'

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
each_line "$(user_homes)" clean_user
