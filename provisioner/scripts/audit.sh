# shellcheck shell=sh
# audit: read-only checks of the finished image; every problem is a finding.
# inputs: AMIH_SKIP_CHECKS (check names, one per line), AMIH_SERVICES (one
#         per line), AMIH_KEEP_USERS (one per line: their keys are no finding)
# Two ways of looking, each finding said once: the homes as the cleaning
# steps see them (passwd, sshd's AuthorizedKeysFile), and one search of
# every local filesystem of the image for the same names, wherever they are
# (search_image): whatever the seed's `find / -name authorized_keys` and
# `/root/.*history /home/*/.*history` find, the audit finds.
R=$AMIH_ROOT

# check NAME: true when the check is not skipped.
check() { ! printf '%s\n' "${AMIH_SKIP_CHECKS:-}" | grep -qxF -- "$1"; }
# found CHECK PATH [DETAIL]: a finding, once per check and path.
found() {
	if seen_once "$1$tab$2"; then rec finding "$@"; fi
}
kept() { printf '%s\n' "${AMIH_KEEP_USERS:-}" | grep -qxF -- "$1"; }
# kept_keys: the key files of keep_users (absolute, one a line).
kept_keys=''
kept_key_files() {
	if kept "${1%%"$tab"*}"; then kept_keys="$kept_keys$(authorized_key_paths "$configured" "$1")$nl"; fi
}
configured=$(authorized_key_files)
each_home all kept_key_files
# regular FILE: FILE is a regular file or a symbolic link.
regular() { [ -f "$1" ] || [ -L "$1" ]; }

if check authorized_keys; then
	key_files_of() {
		_owner=${1%%"$tab"*}
		kept "$_owner" && return 0
		each_line "$(authorized_key_paths "$configured" "$1")" key_file_left
	}
	key_file_left() {
		if regular "$R$1"; then found authorized_keys "$1" "of $_owner"; fi
	}
	each_home all key_files_of
	if command=$(keys_command) && [ -n "$command" ]; then
		rec info "sshd also takes keys from AuthorizedKeysCommand $command: no file to check"
	fi
fi

if check shell_history; then
	history_of() {
		_ifs=$IFS
		IFS=
		for path in "$1"/$2; do
			if regular "$path"; then found shell_history "${path#"$R"}"; fi
		done
		IFS=$_ifs
	}
	histories_of() { each_line "$amih_histories" history_of "$R${1#*"$tab"}"; }
	each_home all histories_of
fi

machine_id=$(cat "$R/etc/machine-id" 2>/dev/null)
case $machine_id in
'' | uninitialized) identity_reset=1 ;;
*) identity_reset=0 ;;
esac
if check machine_id && [ "$identity_reset" = 0 ] && [ -e "$R/etc/machine-id" ]; then
	found machine_id /etc/machine-id "is set: every instance would share it"
fi
if check host_keys && [ "$identity_reset" = 1 ]; then
	for key in "$R"/etc/ssh/ssh_host_*; do
		if regular "$key"; then found host_keys "${key#"$R"}" "left while the machine id is reset"; fi
	done
fi

if check password_authentication; then
	if effective=$(sshd_T); then
		value=$(printf '%s\n' "$effective" | awk '$1 == "passwordauthentication" { print $2 }')
		if [ "$value" = yes ]; then found password_authentication sshd "PasswordAuthentication yes"; fi
	elif [ -f "$R/etc/ssh/sshd_config" ]; then
		value=$(cat "$R/etc/ssh/sshd_config" "$R"/etc/ssh/sshd_config.d/*.conf 2>/dev/null |
			awk 'tolower($1) == "passwordauthentication" { print tolower($2); exit }')
		# OpenSSH's default is yes.
		if [ "${value:-yes}" = yes ]; then found password_authentication sshd "PasswordAuthentication ${value:-yes (default)}"; fi
	fi
fi

if [ -r "$R/etc/shadow" ]; then
	if check root_password; then
		case $(awk -F: '$1 == "root" { print $2; exit }' "$R/etc/shadow") in
		'!'* | '*'* | '') ;;
		*) found root_password root "has a usable password" ;;
		esac
	fi
	if check empty_password; then
		each_line "$(awk -F: '$2 == "" { print $1 }' "$R/etc/shadow")" found empty_password
	fi
fi

if check private_keys; then
	keys_of() {
		_home=$R${1#*"$tab"}
		for key in "$_home"/.ssh/*; do
			if [ -f "$key" ] && private_key "$key"; then found private_keys "${key#"$R"}"; fi
		done
	}
	each_home all keys_of
fi

if check credentials; then
	credential_file() {
		if regular "$1/$2" && holds_credentials "$1/$2"; then found credentials "${1#"$R"}/$2"; fi
	}
	credential_tree() {
		if [ -d "$1/$2" ]; then found credentials "${1#"$R"}/$2/"; fi
	}
	credentials_of() {
		each_line "$amih_credential_files" credential_file "$R${1#*"$tab"}"
		each_line "$amih_credential_trees" credential_tree "$R${1#*"$tab"}"
	}
	each_home all credentials_of
fi

# search_image: one find per local filesystem of a block device (-xdev:
# never /proc, /sys, /run, /dev or a tmpfs), for every file named like a
# key file (authorized_keys, authorized_keys2 and the names of sshd's
# AuthorizedKeysFile), a history (lib.sh's names and .*history), a
# credential file (lib.sh's paths) or a file in a .ssh folder; each is a
# finding when it holds what its name says (a key, a private key,
# credentials; a history always). A file on a filesystem mounted further
# down is searched with that filesystem, once.
search_image() {
	_mounts=$(mount_table | awk -F '\t' '$1 ~ /^\/dev\// && !seen[$1]++ { print $4 }')
	_all=$(mount_points)
	[ -n "$_mounts" ] || _mounts=/
	set -- -name authorized_keys -o -name authorized_keys2 -o -name '.*history' -o -name fish_history \
		-o -name .lesshst -o -name .viminfo -o -name .wget-hsts -o -path '*/.ssh/*'
	set -f
	for _pattern in $configured; do
		_name=${_pattern##*/}
		case $_name in '' | *[%*?[\\]*) ;; *) set -- "$@" -o -name "$_name" ;; esac
	done
	set +f
	while IFS= read -r _f; do
		[ -n "$_f" ] && set -- "$@" -o -path "*/$_f"
	done <<FILES
$amih_credential_files
$amih_credential_trees
FILES
	while IFS= read -r _m; do
		[ -n "$_m" ] || continue
		_m=$(printf '%b.' "$_m")
		_m=${_m%.}
		[ -d "$R$_m" ] || continue
		_searched=${_m%/}
		_start=$R$_searched
		find_each image_hit "${_start:-/}" -xdev \( -path "$R/proc" -o -path "$R/sys" -o -path "$R/dev" -o -path "$R/run" \) -prune -o \( "$@" \)
	done <<MOUNTS
$_mounts
MOUNTS
}
# image_hit PATH: one file search_image found, judged by its name.
image_hit() {
	[ -f "$1" ] || [ -d "$1" ] || return 0
	[ ! -L "$1" ] || return 0
	_p=${1#"$R"}
	# The filesystem it lies on is the one searched, not one mounted below.
	_on=/
	while IFS= read -r _mp; do
		_mp=$(printf '%b.' "$_mp")
		_mp=${_mp%.}
		case $_p in "${_mp%/}"/*) [ ${#_mp} -gt ${#_on} ] && _on=$_mp ;; esac
	done <<MOUNTS
$_all
MOUNTS
	[ "${_on%/}" = "$_searched" ] || return 0
	case $_p in
	*/authorized_keys | */authorized_keys2) key_hit "$1" ;;
	*/.ssh/*) if [ -f "$1" ] && private_key "$1"; then check private_keys && found private_keys "$_p"; fi ;;
	*/.*history | */fish_history | */.lesshst | */.viminfo | */.wget-hsts)
		if [ -f "$1" ]; then check shell_history && found shell_history "$_p"; fi
		;;
	*)
		if credential_path "$_p"; then
			if [ -d "$1" ]; then
				check credentials && found credentials "$_p/"
			elif holds_credentials "$1"; then
				check credentials && found credentials "$_p"
			fi
		else
			key_hit "$1"
		fi
		;;
	esac
	return 0
}
key_hit() {
	[ -f "$1" ] && check authorized_keys && holds_key "$1" || return 0
	case $nl$kept_keys in *"$nl${1#"$R"}$nl"*) return 0 ;; esac
	found authorized_keys "${1#"$R"}" "holds a key"
}
# credential_path PATH: PATH ends in one of lib.sh's credential paths.
credential_path() {
	while IFS= read -r _c; do
		case $1 in *"/$_c") return 0 ;; esac
	done <<FILES
$amih_credential_files
$amih_credential_trees
FILES
	return 1
}
if check authorized_keys || check shell_history || check credentials || check private_keys; then
	search_image
fi

# What the last final shutdown could not clean (final_shutdown notes it in
# the image: the only thing that outlives the shutdown).
failed=$R/var/lib/ami-hygiene/final-shutdown.failed
if check final_shutdown && [ -f "$failed" ] && [ ! -L "$failed" ]; then
	found final_shutdown /var/lib/ami-hygiene/final-shutdown.failed "$(head -c 2000 "$failed" | tr '\n' ';')"
fi

if check mail_queue; then
	mta=$(mail_system)
	n=$(queued "$mta")
	if [ "$n" -gt 0 ]; then found mail_queue "$mta" "$n messages queued"; fi
fi

if check services && [ -n "${AMIH_SERVICES:-}" ]; then
	active() {
		if have systemctl && [ -d "$R/run/systemd/system" ]; then
			systemctl is-active --quiet -- "$1"
		elif have rc-service; then
			rc-service "$1" status >/dev/null 2>&1
		else
			service "$1" status >/dev/null 2>&1
		fi
	}
	service_left() {
		if active "$1"; then found services "$1" "still active"; fi
	}
	each_line "$AMIH_SERVICES" service_left
fi
