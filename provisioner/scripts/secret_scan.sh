# shellcheck shell=sh
# secret_scan: find files that hold a secret (private keys, cloud keys, API
# tokens) under the given directories, on their own filesystems, and report
# each as a finding naming the path and the rule, never the secret.
# inputs: AMIH_PATHS (directories, one per line), AMIH_ALLOW (patterns, one
#         per line), AMIH_MAX_BLOCKS (512-byte blocks), AMIH_RULES (one
#         "name<TAB>extended regex" per line)

# Keys the OS makes itself: warnings, not findings.
host_keys='/etc/ssh/ssh_host_*_key'
system_keys='/etc/ssl/private/ssl-cert-snakeoil.key'

# The grep options: every rule, file names only, no binary files where grep
# can tell.
set -- -l -s -E
if printf 'x\n' | grep -I -q x 2>/dev/null; then set -- "$@" -I; fi
while IFS="$tab" read -r _name regex; do
	[ -n "$regex" ] && set -- "$@" -e "$regex"
done <<RULES
$AMIH_RULES
RULES

roots=
add_root() {
	if [ -d "$AMIH_ROOT$1" ]; then roots="$roots$AMIH_ROOT$1$nl"; fi
}
each_line "$AMIH_PATHS" add_root
[ -n "$roots" ] || exit 0

# One pass over every file: find hands them to grep in large batches.
candidates=$(
	printf '%s' "$roots" | while IFS= read -r root; do
		find -H "$root" -xdev -type f -size -"$AMIH_MAX_BLOCKS" -exec grep "$@" {} + 2>/dev/null
	done
)

findings=0
allowed=0
# judge FILE: name the rules FILE matches, then accept, warn or report.
judge() {
	_path=${1#"$AMIH_ROOT"}
	_rules=
	while IFS="$tab" read -r _name _regex; do
		[ -n "$_regex" ] || continue
		if grep -q -s -E -e "$_regex" "$1"; then _rules="$_rules${_rules:+,}$_name"; fi
	done <<RULES
$AMIH_RULES
RULES
	[ -n "$_rules" ] || return 0
	if in_globs "$_path" "${AMIH_ALLOW:-}"; then
		allowed=$((allowed + 1))
		rec info "allowed: $_path ($_rules)"
	elif in_globs "$_path" "$host_keys"; then
		rec warn "$_path is an SSH host key: machine_identity removes host keys (remove_host_keys)"
	elif in_globs "$_path" "$system_keys"; then
		rec warn "$_path holds a key the OS made ($_rules); every instance shares it unless it is regenerated"
	else
		findings=$((findings + 1))
		rec finding "$_rules" "$_path"
	fi
}
each_line "$candidates" judge
rec count findings "$findings"
rec count allowed "$allowed"
