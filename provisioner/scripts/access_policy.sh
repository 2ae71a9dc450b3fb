# shellcheck shell=sh
# access_policy: lock root's password and every empty password; make sshd
# refuse passwords and password logins of root.
# inputs: AMIH_LOCK_ROOT, AMIH_LOCK_EMPTY, AMIH_SSHD (1 or 0),
#         AMIH_PERMIT_ROOT_LOGIN (prohibit-password | no | forced-commands-only)
R=$AMIH_ROOT

# sshd_without_pam: sshd runs without PAM (`usepam no`, or an sshd built
# without it, whose `sshd -T` has no usepam line: Alpine's). Such an sshd
# refuses every login, keys too, to an account whose password starts with
# "!" (OpenSSH's auth.c, allowed_user: a locked account).
sshd_without_pam() {
	_t=$(sshd_T) || return 1
	case $nl$_t$nl in
	*"${nl}usepam yes$nl"*) return 1 ;;
	esac
}
no_pam=0
if sshd_without_pam; then no_pam=1; fi

# lock USER WHY: make USER's password unusable while a key login still
# works: locked with "!" (usermod -L, passwd -l), or, where sshd has no
# PAM, replaced by "*" (no password matches it, and the account is not
# locked).
lock() {
	if [ "$no_pam" = 1 ]; then
		rec change lock "$1" "$2; password set to * (sshd without PAM refuses keys to a locked account)"
		dry_run && return 0
		if have usermod; then
			usermod -p '*' -- "$1" >&2
		else
			printf '%s:*\n' "$1" | chpasswd -e >&2
		fi || fail "cannot disable the password of $1"
		return 0
	fi
	rec change lock "$1" "$2"
	dry_run && return 0
	if have usermod; then
		usermod -L -- "$1" >&2
	else
		passwd -l "$1" >&2
	fi || fail "cannot lock the password of $1"
}
# password_of USER: USER's password field in /etc/shadow.
password_of() { awk -F: -v u="$1" '$1 == u { print $2; exit }' "$R/etc/shadow"; }

if [ -r "$R/etc/shadow" ]; then
	if [ "$AMIH_LOCK_ROOT" = 1 ]; then
		case $(password_of root) in
		'!'* | '*'*) ;;
		'') lock root "empty password" ;;
		*) lock root "password" ;;
		esac
	fi
	if [ "$AMIH_LOCK_EMPTY" = 1 ]; then
		lock_empty() {
			if [ "$1" != root ] || [ "$AMIH_LOCK_ROOT" != 1 ]; then lock "$1" "empty password"; fi
		}
		each_line "$(awk -F: '$2 == "" { print $1 }' "$R/etc/shadow")" lock_empty
	fi
fi

[ "$AMIH_SSHD" = 1 ] || exit 0
config=$R/etc/ssh/sshd_config
# openSUSE Tumbleweed and SLE 16 ship only the vendor file
# /usr/etc/ssh/sshd_config, which sshd reads while /etc/ssh/sshd_config does
# not exist: it is read, never written (a drop-in it includes, or a new
# /etc/ssh/sshd_config made from it, carries the settings).
vendor=
if [ ! -f "$config" ] && [ -f "$R/usr/etc/ssh/sshd_config" ]; then
	vendor=$R/usr/etc/ssh/sshd_config
	config=$vendor
fi
if [ ! -f "$config" ]; then
	rec info "no /etc/ssh/sshd_config: sshd is not installed"
	exit 0
fi
# sshd takes the first value it reads: the drop-in directory works only when
# it is included before any setting.
includes_dropins() {
	awk 'tolower($1) == "include" && $2 == "/etc/ssh/sshd_config.d/*.conf" { found = 1; exit }
		/^[[:space:]]*[A-Za-z]/ && tolower($1) != "include" { exit }
		END { exit !found }' "$config"
}

# image_setting KEYWORD: the image's own value of an sshd setting (the first
# one sshd reads outside a Match block, leaving out what this step wrote),
# lower case, or nothing.
image_setting() {
	_dropins=
	for _f in "$R"/etc/ssh/sshd_config.d/*.conf; do
		case $_f in */00-ami-hygiene.conf) continue ;; esac
		[ -f "$_f" ] && _dropins="$_dropins$_f$nl"
	done
	{
		includes_dropins && printf '%s' "$_dropins" | while IFS= read -r _f; do cat "$_f"; done
		awk '/^# BEGIN ami-hygiene/ { skip = 1 } !skip { print } /^# END ami-hygiene/ { skip = 0 }' "$config"
		includes_dropins || printf '%s' "$_dropins" | while IFS= read -r _f; do cat "$_f"; done
	} | awk -v k="$1" 'tolower($1) == "match" { exit } tolower($1) == k { $1 = ""; print tolower(substr($0, 2)); exit }'
}
# strictness VALUE: PermitRootLogin's values, strictest first.
strictness() {
	case $1 in
	no) echo 0 ;;
	forced-commands-only) echo 1 ;;
	prohibit-password | without-password) echo 2 ;;
	*) echo 3 ;;
	esac
}
# Never weaken a stricter policy the image has (PermitRootLogin no stays no).
root_login=$AMIH_PERMIT_ROOT_LOGIN
own=$(image_setting permitrootlogin)
if [ -n "$own" ] && [ "$(strictness "$own")" -lt "$(strictness "$root_login")" ]; then
	root_login=$own
	rec info "kept PermitRootLogin $own: the image's own setting is stricter than permit_root_login = \"$AMIH_PERMIT_ROOT_LOGIN\""
fi
# Keyboard-interactive logins ask PAM for the password too:
# PasswordAuthentication no does not cover them (RHEL 9's sshd allows them
# by default). Left alone, with a warning, where the image uses them as a
# second factor (AuthenticationMethods naming keyboard-interactive).
kbd="KbdInteractiveAuthentication no"
if methods=$(sshd_T); then
	methods=$(printf '%s\n' "$methods" | awk '$1 == "authenticationmethods" { $1 = ""; print }')
else
	methods=$(image_setting authenticationmethods)
fi
case $methods in
*keyboard-interactive*)
	kbd=
	rec warn "left KbdInteractiveAuthentication alone: AuthenticationMethods uses keyboard-interactive ($methods)"
	;;
esac
settings="PasswordAuthentication no
PermitEmptyPasswords no
PermitRootLogin $root_login${kbd:+$nl$kbd}"
# The file as it was, to put back when sshd rejects the result; both writes
# are atomic (write_file, replace_file): a full disk leaves it as it was.
original=
had_target=0
if includes_dropins; then
	target=$R/etc/ssh/sshd_config.d/00-ami-hygiene.conf
	content="# Written by packer-plugin-ami-hygiene (access_policy): no password logins.
$settings"
	dry_run || mkdir -p "${target%/*}"
else
	target=$R/etc/ssh/sshd_config
	block="# BEGIN ami-hygiene (access_policy): sshd takes the first value it reads
$settings
# END ami-hygiene"
	rest=$(awk '/^# BEGIN ami-hygiene/ { skip = 1 } !skip { print } /^# END ami-hygiene/ { skip = 0 }' "$config")
	content="$block
$rest"
fi
if [ -n "$vendor" ] && [ "$target" = "$R/etc/ssh/sshd_config" ]; then
	rec info "sshd's configuration is the vendor file /usr/etc/ssh/sshd_config, which includes no drop-in first: /etc/ssh/sshd_config is made from it"
	dry_run || mkdir -p "$R/etc/ssh"
fi
if [ -f "$target" ]; then
	had_target=1
	original=$(cat "$target"; echo x)
	original=${original%x}
fi
write_file "$target" "$content"
dry_run && exit 0

# Check the result; put a broken configuration back.
if [ -z "$R" ] && have sshd; then
	if ! errors=$(sshd_with_key -t 2>&1); then
		if [ "$had_target" = 1 ]; then replace_file "$target" "$original"; else rm -f "$target"; fi
		fail "sshd -t rejects the configuration with ${target#"$R"} (put back as it was): $errors"
	fi
	effective=$(sshd_T)
	# sshd -T names prohibit-password by its older alias.
	[ "$root_login" = prohibit-password ] && effective=$(printf '%s\n' "$effective" | sed 's/^permitrootlogin without-password$/permitrootlogin prohibit-password/')
	for want in "passwordauthentication no" "permitemptypasswords no" "permitrootlogin $root_login" ${kbd:+"kbdinteractiveauthentication no"}; do
		case $nl$effective$nl in
		*"$nl$want$nl"*) ;;
		*) fail "sshd does not apply \"$want\": an earlier setting in /etc/ssh/sshd_config or a Match block overrides ${target#"$R"}" ;;
		esac
	done
fi
