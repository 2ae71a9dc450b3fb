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

# One pass over every file: find hands them to grep in large batches, on
# every CPU where find, xargs and grep can do it safely (NUL-separated names,
# line-buffered output so that parallel greps never mix their lines).
jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null) || jobs=1
parallel=0
if [ "${jobs:-1}" -gt 1 ] && find /dev/null -print0 >/dev/null 2>&1 &&
	printf 'x\000' | xargs -0 -P 2 -n 1 true 2>/dev/null &&
	printf 'x\n' | grep --line-buffered -q x 2>/dev/null; then
	parallel=1
fi
candidates=$(
	printf '%s' "$roots" | while IFS= read -r root; do
		# Paths holding a newline or a tab cannot travel in grep's list:
		# they are scanned one by one below (scan_odd_name).
		if [ "$parallel" = 1 ]; then
			find -H "$root" -xdev -type f -size -"$AMIH_MAX_BLOCKS" ! -path "*$nl*" ! -path "*$tab*" -print0 2>/dev/null |
				xargs -0 -P "$jobs" -n 4096 grep --line-buffered "$@"
		else
			find -H "$root" -xdev -type f -size -"$AMIH_MAX_BLOCKS" ! -path "*$nl*" ! -path "*$tab*" -exec grep "$@" {} + 2>/dev/null
		fi
	done
)

# matches FILE...: "FILE<TAB>RULE" for every rule each file matches, one
# grep per rule.
matches() {
	while IFS="$tab" read -r _name _regex; do
		[ -n "$_regex" ] || continue
		grep -l -s -E -e "$_regex" -- "$@" | sed "s/\$/$tab$_name/"
	done <<RULES
$AMIH_RULES
RULES
}
# all_matches: matches over every candidate, 500 files at a time.
all_matches() {
	set --
	while IFS= read -r _file; do
		set -- "$@" "$_file"
		if [ $# -ge 500 ]; then
			matches "$@"
			set --
		fi
	done <<FILES
$candidates
FILES
	if [ $# -gt 0 ]; then matches "$@"; fi
}
# One line per file: FILE<TAB>rule,rule (rules in their order).
matched=$(all_matches | awk -F "$tab" '{ if ($1 in r) r[$1] = r[$1] "," $2; else r[$1] = $2 } END { for (f in r) print f "\t" r[f] }' | sort)

findings=0
allowed=0
# judge FILE<TAB>RULES: accept, warn or report.
judge() { judge_path "${1%%"$tab"*}" "${1#*"$tab"}"; }
# judge_path FILE RULES
judge_path() {
	_path=${1#"$AMIH_ROOT"}
	_rules=$2
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
[ -z "$candidates" ] || each_line "$matched" judge

# scan_odd_name FILE: the rules one FILE whose path holds a newline or a tab
# matches, judged like the others.
scan_odd_name() {
	_found=
	while IFS="$tab" read -r _name _regex; do
		[ -n "$_regex" ] || continue
		if grep -q -s -E -e "$_regex" -- "$1"; then _found="${_found:+$_found,}$_name"; fi
	done <<RULES
$AMIH_RULES
RULES
	[ -z "$_found" ] || judge_path "$1" "$_found"
}
for_each_root() {
	find_each scan_odd_name -H "$1" -xdev -type f -size -"$AMIH_MAX_BLOCKS" \( -path "*$nl*" -o -path "*$tab*" \)
}
each_line "$roots" for_each_root
rec count findings "$findings"
rec count allowed "$allowed"
