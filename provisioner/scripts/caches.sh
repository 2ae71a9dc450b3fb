# shellcheck shell=sh
# caches: empty /tmp and /var/tmp, the package managers' caches, crash dumps
# and the backups of the account files.
# inputs: AMIH_EXCLUDE (patterns, one per line), AMIH_PACKAGE_LISTS (1 or 0)
R=$AMIH_ROOT
self=$0

# on_tmpfs DIR: DIR is a tmpfs mount (it is not part of the image).
on_tmpfs() { [ -z "$R" ] && awk -v d="$1" '$2 == d && $3 == "tmpfs" { found = 1 } END { exit !found }' /proc/mounts; }

clean_tmp_entry() {
	case $1 in
	"$self" | */systemd-private-* | */.X11-unix | */.ICE-unix | */.XIM-unix | */.font-unix | */.Test-unix) return 0 ;;
	esac
	in_globs "${1#"$R"}" "${AMIH_EXCLUDE:-}" && return 0
	remove_tree "$1" "${1%/*}"
}
for dir in /tmp /var/tmp; do
	if [ ! -d "$R$dir" ] || [ -L "$R$dir" ]; then continue; fi
	if on_tmpfs "$dir"; then
		rec info "$dir is a tmpfs, not part of the image: left alone"
		continue
	fi
	for entry in "$R$dir"/* "$R$dir"/.[!.]* "$R$dir"/..?*; do
		if [ -e "$entry" ] || [ -L "$entry" ]; then clean_tmp_entry "$entry"; fi
	done
done

# Package manager caches (downloads and metadata), crash dumps.
for entry in "$R"/var/cache/apt/archives/*.deb "$R"/var/cache/apt/archives/partial/* "$R"/var/cache/apt/*.bin \
	"$R"/var/cache/dnf/* "$R"/var/cache/yum/* "$R"/var/cache/zypp/packages/* "$R"/var/cache/apk/* \
	"$R"/var/crash/* "$R"/var/spool/abrt/* "$R"/var/lib/systemd/coredump/*; do
	if [ -e "$entry" ] || [ -L "$entry" ]; then remove_tree "$entry"; fi
done
if [ "$AMIH_PACKAGE_LISTS" = 1 ]; then
	for entry in "$R"/var/lib/apt/lists/*; do
		case $entry in */lock | */partial) continue ;; esac
		if [ -e "$entry" ] || [ -L "$entry" ]; then remove_tree "$entry"; fi
	done
fi

# Users' build caches: pip's, Go's build cache and npm's content cache, in
# every home (a link out of the home is left alone).
clean_build_caches() {
	_home=$AMIH_ROOT${1#*"$tab"}
	for cache in .cache/pip .cache/go-build .npm/_cacache; do
		if [ -e "$_home/$cache" ] || [ -L "$_home/$cache" ]; then remove_tree "$_home/$cache" "$_home"; fi
	done
}
each_home all clean_build_caches

# Backups of the account files that shadow-utils leaves behind: the
# password hashes of shadow- and gshadow- are secrets, overwritten first
# (lib.sh overwrite), as the steps that handle secrets do.
amih_overwrite=1
for f in passwd shadow group gshadow subuid subgid; do
	remove_file "$R/etc/$f-"
done
