# shellcheck shell=sh
# audit: read-only checks of the finished image; every problem is a finding.
# inputs: AMIH_SKIP_CHECKS (check names, one per line), AMIH_SERVICES (one
#         per line)
R=$AMIH_ROOT
homes=$(user_homes all)

# check NAME: true when the check is not skipped.
check() { ! printf '%s\n' "${AMIH_SKIP_CHECKS:-}" | grep -qxF -- "$1"; }
found() { rec finding "$@"; }
# regular FILE: FILE is a regular file or a symbolic link.
regular() { [ -f "$1" ] || [ -L "$1" ]; }

if check authorized_keys; then
	configured=$(authorized_key_files)
	key_files_of() {
		_owner=${1%%"$tab"*}
		each_line "$(authorized_key_paths "$configured" "$1")" key_file_left
	}
	key_file_left() {
		if regular "$R$1"; then found authorized_keys "$1" "of $_owner"; fi
	}
	each_line "$homes" key_files_of
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
	each_line "$homes" histories_of
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
	each_line "$homes" keys_of
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
	each_line "$homes" credentials_of
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
