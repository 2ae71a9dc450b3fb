# shellcheck shell=sh
# audit: read-only checks of the finished image; every problem is a finding.
# inputs: AMIH_SKIP_CHECKS (check names, one per line), AMIH_SERVICES (one
#         per line), AMIH_KEEP_USERS (one per line: their keys are no finding),
#         AMIH_ALLOW (path patterns, one per line: no finding, listed as allowed)
# Two ways of looking, each finding said once: the homes as the cleaning
# steps see them (passwd, sshd's AuthorizedKeysFile), and one search of
# every local filesystem of the image for the same names, wherever they are
# (search_image): whatever the classic `find / -name authorized_keys` and
# `find /root/.*history /home/*/.*history` find, the audit finds.
R=$AMIH_ROOT

# check NAME: true when the check is not skipped.
check() {
	case $nl${AMIH_SKIP_CHECKS:-}$nl in *"$nl$1$nl"*) return 1 ;; esac
}
# found CHECK PATH [DETAIL]: a finding, once per check and path, unless
# PATH matches a pattern of AMIH_ALLOW (audit.allow): then it is listed as
# allowed, never dropped silently.
allowed_n=0
_long_dir=
found() {
	seen_once "$1:$2" || return 0
	if allowed_path "$2"; then
		allowed_n=$((allowed_n + 1))
		rec info "allowed by audit.allow: $1 $2"
	else
		rec finding "$@"
	fi
}
# allowed_path TARGET: TARGET is a path (not a user, a setting or a
# service) that a pattern of AMIH_ALLOW matches (`*` matches `/` too); the
# patterns that matched are kept in amih_allow_used.
amih_allow_used=
allowed_path() {
	case $1 in /*) ;; *) return 1 ;; esac
	_al_hit=1
	while IFS= read -r _al_g; do
		[ -n "$_al_g" ] || continue
		# shellcheck disable=SC2254 # the pattern is a pattern
		case $1 in $_al_g)
			_al_hit=0
			case $nl$amih_allow_used$nl in *"$nl$_al_g$nl"*) ;; *) amih_allow_used="$amih_allow_used$nl$_al_g" ;; esac
			;;
		esac
	done <<GLOBS
${AMIH_ALLOW:-}
GLOBS
	return $_al_hit
}
# stale_allow PATTERN: a pattern of audit.allow that matched nothing the
# audit found is said (an exception that outlived its reason).
stale_allow() {
	case $nl$amih_allow_used$nl in *"$nl$1$nl"*) return 0 ;; esac
	rec warn "audit.allow \"$1\" matched nothing the audit found: remove it if the exception is no longer needed"
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
		if [ -L "$1/$2" ] || { [ -f "$1/$2" ] && holds_credentials "$1/$2"; }; then found credentials "${1#"$R"}/$2"; fi
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
# never /proc, /sys, /run, /dev or a tmpfs) for every file named like a key
# file (authorized_keys, authorized_keys2 and the names of sshd's
# AuthorizedKeysFile), a history (.*history and lib.sh's names), a .ssh
# folder (its private keys) or the first folder of a credential path of
# lib.sh (.aws, .config, ...: what lies under it is then looked up); each
# is a finding when it holds what its name says (a key, a private key,
# credentials; a history always). A file on a filesystem mounted further
# down is searched with that filesystem, once.
# The cost is that of a plain find of the same tree: find tests three or
# four names a file (every dot name is one test) and awk keeps the names
# that count before the shell sees a path (make bench, P9: the search
# against find alone).
search_image() {
	read -r _started _ 2>/dev/null </proc/uptime || _started=
	_searched_fs=0
	# The mount table once: the filesystems of block devices (each device
	# once) and every mount point, as mount_table escapes them.
	_mounts=
	_all=
	_devices=
	_btrfs=
	_roots=$(mount_roots)
	# Each mount of a block device as "SOURCE<TAB>ROOT<TAB>TYPE<TAB>MOUNT
	# POINT", ROOT its folder of the filesystem (mount_root).
	_entries=
	while IFS="$tab" read -r _src _type _opts _mp; do
		[ -n "$_mp" ] || continue
		_all="$_all$nl$_mp"
		case $_src in /dev/*) _entries="$_entries$nl$_src$tab$(mount_root "$_mp" "$_opts")$tab$_type$tab$_mp" ;; esac
	done <<TABLE
$(mount_table)
TABLE
	# One search per tree: a mount is searched unless an earlier one shows
	# the same folder of the same device, or (but on btrfs, whose
	# subvolumes find -xdev does not enter) a folder above it. So a btrfs
	# subvolume (/home on Fedora's layout) and a bind mount of a folder no
	# other mount shows are searched, each once.
	while IFS="$tab" read -r _src _root _type _mp; do
		[ -n "$_mp" ] || continue
		_key="$_src$tab$_root"
		case $_devices$nl in *"$nl$_key$nl"*) continue ;; esac
		if [ "$_type" != btrfs ] && above "$_src" "$_root"; then continue; fi
		_devices="$_devices$nl$_key"
		_mounts="$_mounts$nl$_mp"
		[ "$_type" != btrfs ] || _btrfs="$_btrfs$nl$_mp"
	done <<ENTRIES
$_entries
ENTRIES
	[ -n "$_mounts" ] || _mounts=/
	# btrfs subvolumes that are no mount point (/var/lib/machines, a
	# snapshot kept in the image): find -xdev stops at each, so each is
	# searched as a tree of its own, and so are the subvolumes in it.
	while [ -n "$_btrfs" ]; do
		_b=${_btrfs%%"$nl"*}
		case $_btrfs in *"$nl"*) _btrfs=${_btrfs#*"$nl"} ;; *) _btrfs= ;; esac
		[ -n "$_b" ] || continue
		_b=$(printf '%b.' "$_b")
		_b=${_b%.}
		while IFS= read -r _esc; do
			_sub=$(printf '%b.' "$_esc")
			_sub=${_sub%.}
			escape "${_sub#"$R"}"
			[ "${_sub%/}" != "$R${_b%/}" ] || continue
			case $_all$nl in *"$nl$amih_escaped$nl"*) continue ;; esac
			_all="$_all$nl$amih_escaped"
			_mounts="$_mounts$nl$amih_escaped"
			_btrfs="$_btrfs$nl$amih_escaped"
		done <<SUBVOLUMES
$(find "$R$_b" -xdev -type d -inum 256 -print0 2>/dev/null | nul_lines)
SUBVOLUMES
	done
	# The names that count, and find's tests for them.
	_key_names="authorized_keys${nl}authorized_keys2"
	set -f
	for _pattern in $configured; do
		_name=${_pattern##*/}
		case $_name in '' | *[%*?[\\]*) ;; *) _key_names="$_key_names$nl$_name" ;; esac
	done
	set +f
	# The first folder of every credential path (.aws, .config, ...).
	_cred_firsts=
	while IFS= read -r _f; do
		_first=${_f%%/*}
		case $_first in '' | *[*?[\\]*) continue ;; esac
		_cred_firsts="$_cred_firsts$nl$_first"
	done <<FILES
$amih_credential_files
$amih_credential_trees
FILES
	_wanted="$_key_names${nl}fish_history$nl.ssh$nl.lesshst$nl.viminfo$nl.wget-hsts$_cred_firsts"
	set -- -name '.*' -o -name 'authorized_keys*' -o -name fish_history
	while IFS= read -r _f; do
		case $_f in .* | authorized_keys* | fish_history) ;; *) set -- "$@" -o -name "$_f" ;; esac
	done <<WANTED
$_wanted
WANTED
	while IFS= read -r _m; do
		[ -n "$_m" ] || continue
		_m=$(printf '%b.' "$_m")
		_m=${_m%.}
		[ -d "$R$_m" ] || continue
		_searched=${_m%/}
		search_fs "$R$_searched" "$@"
		_searched_fs=$((_searched_fs + 1))
	done <<MOUNTS
$_mounts
MOUNTS
	read -r _ended _ 2>/dev/null </proc/uptime || _ended=
	rec info "searched the whole image for key files, histories, credentials and private keys: $_searched_fs filesystem(s)$(
		awk -v a="$_started" -v b="$_ended" 'BEGIN { if (a != "" && b != "") printf " in %.2f s", b - a }'
	)"
}
# mount_roots: every mount's folder of its filesystem ("ROOT" of
# /proc/self/mountinfo: / for a whole filesystem, /home for a btrfs
# subvolume or a bind mount of /home), a line "MOUNT POINT<TAB>ROOT", both
# escaped as mount_table does; nothing where mountinfo cannot be read.
mount_roots() {
	[ -r "$R/proc/self/mountinfo" ] || return 0
	awk "$amih_awk_mount_field"'
	{ print mount_field($5) "\t" mount_field($4) }' "$R/proc/self/mountinfo"
}
# mount_root MOUNT-POINT OPTIONS: the folder of its filesystem mounted
# there: mountinfo's root, else a btrfs subvol= option, else /.
mount_root() {
	while IFS="$tab" read -r _rm _rr; do
		if [ "$_rm" = "$1" ]; then
			printf '%s' "$_rr"
			return 0
		fi
	done <<ROOTS
$_roots
ROOTS
	case ,$2, in *,subvol=*)
		_rr=${2#*subvol=}
		printf '%s' "${_rr%%,*}"
		return 0
		;;
	esac
	printf /
}
# above SOURCE ROOT: another mount of SOURCE shows a folder above ROOT.
above() {
	while IFS="$tab" read -r _asrc _aroot _ _; do
		[ "$_asrc" = "$1" ] || continue
		case $2 in "${_aroot%/}"/?*) return 0 ;; esac
	done <<ENTRIES
$_entries
ENTRIES
	return 1
}
# nul_lines: NUL-ended paths on stdin, a line each escaped for printf %b.
nul_lines() {
	od -An -v -to1 | awk '{
		for (i = 1; i <= NF; i++) {
			if ($i != "000") { p = p "\\0" $i; continue }
			print p
			p = ""
		}
	}'
}
# search_fs DIR TEST...: image_hit for every file of DIR's filesystem that
# passes find's TESTs and has a name that counts (_wanted, one a line, and
# every .*history). From the root, /proc, /sys, /dev and /run and the
# filesystems mounted on its top folders are left out: find starts at each
# other top entry.
search_fs() {
	_dir=$1
	shift
	set -- -xdev \( "$@" \) -print0
	_starts=0
	for _e in "$_dir"/* "$_dir"/.[!.]* "$_dir"/..?*; do
		[ -e "$_e" ] || [ -L "$_e" ] || continue
		if [ -z "$_searched" ]; then
			case ${_e##*/} in proc | sys | dev | run) continue ;; esac
			escape "${_e#"$R"}"
			case $_all$nl in *"$nl$amih_escaped$nl"*) continue ;; esac
		fi
		set -- "$_e" "$@"
		_starts=$((_starts + 1))
	done
	[ "$_starts" -gt 0 ] || return 0
	temp_file || fail "cannot create a temporary file"
	_hits=$amih_tmp
	# od writes every byte in octal: NUL ends a path; awk (bytes, LC_ALL=C)
	# keeps the path, escaped for printf %b, when its last name counts.
	find "$@" 2>/dev/null | od -An -v -to1 | LC_ALL=C amih_wanted=$_wanted awk '
		BEGIN {
			for (i = 1; i < 256; i++) octal[sprintf("%c", i)] = sprintf("%03o", i)
			n = split(ENVIRON["amih_wanted"], names, "\n")
			for (i = 1; i <= n; i++) {
				w = ""
				for (j = 1; j <= length(names[i]); j++) w = w octal[substr(names[i], j, 1)]
				if (w != "") want[w] = 1
			}
			hist = "150151163164157162171" # history
		}
		{
			for (i = 1; i <= NF; i++) {
				if ($i != "000") {
					p = p "\\0" $i
					b = ($i == "057") ? "" : b $i
					continue
				}
				if ((b in want) || (substr(b, 1, 3) == "056" && length(b) >= 24 && substr(b, length(b) - 20) == hist)) print p
				p = ""
				b = ""
			}
		}' >"$_hits"
	while IFS= read -r _esc; do
		_path=$(printf '%b.' "$_esc")
		long_hit "${_path%.}"
	done <"$_hits"
}
# image_hit PATH: one file search_image found, judged by its name.
# long_hit PATH: image_hit, also for a PATH longer than the kernel takes
# in one call (PATH_MAX, 4096 bytes: [ -f ] fails with ENAMETOOLONG): it is
# then judged in a subshell from its own folder, reached one name at a time
# (its findings are said; they are not counted twice there). One that
# cannot be reached is a finding: what the audit cannot read is never clean.
long_hit() {
	if [ "${#1}" -lt 4000 ]; then
		image_hit "$1"
		return 0
	fi
	_long_dir=${1%/*}
	_long_dir=${_long_dir#"$R"}
	if ! (long_cd "${1%/*}" && image_hit "./${1##*/}"); then
		found unreadable "${1#"$R"}" "a path of ${#1} bytes the audit could not open"
	fi
	_long_dir=
}
# long_cd DIR: cd into DIR one name at a time, never through a link.
long_cd() {
	cd / || return 1
	_lc_rest=${1#/}
	while [ -n "$_lc_rest" ]; do
		_lc_name=${_lc_rest%%/*}
		case $_lc_rest in */*) _lc_rest=${_lc_rest#*/} ;; *) _lc_rest= ;; esac
		[ -n "$_lc_name" ] || continue
		[ ! -L "./$_lc_name" ] && cd -P -- "./$_lc_name" || return 1
	done
}
# shown_as PATH: amih_shown is PATH as the guest sees it: PATH is under
# $R, or ./NAME in the folder long_hit went into.
shown_as() {
	case $1 in
	./*) amih_shown=$_long_dir/${1#./} ;;
	*) amih_shown=${1#"$R"} ;;
	esac
}
image_hit() {
	[ ! -L "$1" ] || return 0
	[ -f "$1" ] || [ -d "$1" ] || return 0
	shown_as "$1"
	_p=$amih_shown
	# The filesystem it lies on is the one searched, not one mounted below
	# (compared escaped: escaping keeps prefixes).
	escape "$_p"
	_on=/
	while IFS= read -r _mp; do
		case $amih_escaped in "${_mp%/}"/*) [ ${#_mp} -gt ${#_on} ] && _on=$_mp ;; esac
	done <<MOUNTS
$_all
MOUNTS
	escape "$_searched"
	[ "${_on%/}" = "$amih_escaped" ] || return 0
	_base=${_p##*/}
	case $nl$_key_names$nl in *"$nl$_base$nl"*)
		key_hit "$1"
		return 0
		;;
	esac
	case $_base in
	.ssh)
		check private_keys || return 0
		for _k in "$1"/* "$1"/.[!.]* "$1"/..?*; do
			# Public by their nature (and read as such above).
			case ${_k##*/} in authorized_keys* | known_hosts* | *.pub) continue ;; esac
			if [ -f "$_k" ] && [ ! -L "$_k" ] && private_key "$_k"; then
				shown_as "$_k"
				found private_keys "$amih_shown"
			fi
		done
		;;
	.*history | fish_history | .lesshst | .viminfo | .wget-hsts)
		if [ -f "$1" ]; then check shell_history && found shell_history "$_p"; fi
		;;
	esac
	check credentials || return 0
	case $_cred_firsts$nl in *"$nl$_base$nl"*) ;; *) return 0 ;; esac
	while IFS= read -r _c; do
		case $_c in "$_base") credential_hit "$1" file ;; "$_base"/*) credential_hit "$1/${_c#*/}" file ;; esac
	done <<FILES
$amih_credential_files
FILES
	while IFS= read -r _c; do
		case $_c in "$_base") credential_hit "$1" tree ;; "$_base"/*) credential_hit "$1/${_c#*/}" tree ;; esac
	done <<TREES
$amih_credential_trees
TREES
	return 0
}
# credential_hit PATH file|tree: a credential file that holds credentials
# (never read through a link or from a device) or a credential folder.
credential_hit() {
	[ ! -L "$1" ] || return 0
	shown_as "$1"
	if [ "$2" = tree ]; then
		if [ -d "$1" ]; then found credentials "$amih_shown/"; fi
	elif [ -f "$1" ] && holds_credentials "$1"; then
		found credentials "$amih_shown"
	fi
}
key_hit() {
	[ -f "$1" ] && check authorized_keys && holds_key "$1" || return 0
	shown_as "$1"
	case $nl$kept_keys in *"$nl$amih_shown$nl"*) return 0 ;; esac
	found authorized_keys "$amih_shown" "holds a key"
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

each_line "${AMIH_ALLOW:-}" stale_allow
rec count allowed "$allowed_n"
