# shellcheck shell=sh
# free_space: clear the free blocks of the image's filesystems (zeros through
# one temporary file, and/or fstrim) and its active swap.
# inputs: AMIH_MODE (zero | discard | both), AMIH_PATHS (mount points, one
#         per line; empty: every writable filesystem of a block device but
#         loop devices), AMIH_SWAP (1 or 0)
# The filesystem is full while the zeros are written; the file is removed
# (also by the EXIT trap, whatever happens) and synced at once.

# filesystems: "STATE<TAB>TYPE<TAB>SOURCE<TAB>MOUNT POINT" (the mount point
# escaped as mount_table says) of every filesystem to clear: each writable
# filesystem of a block device (not a loop device) once, or the listed
# mount points. STATE is "ok", or "skip" for a listed one that is not such
# a filesystem (a tmpfs filled with zeros would fill the memory).
filesystems() {
	mount_table | awk -F '\t' -v paths="${AMIH_PATHS:-}" '
		BEGIN { n = split(paths, p, "\n"); for (i = 1; i <= n; i++) if (p[i] != "") want[p[i]] = 1 }
		{
			split($3, opt, ",")
			ok = $1 ~ /^\/dev\// && $1 !~ /^\/dev\/loop/ && opt[1] == "rw"
			line = $2 "\t" $1 "\t" $4
			if (paths != "") { if (($4 in want) && !done[$4]++) print (ok ? "ok" : "skip") "\t" line; next }
			if (ok && !seen[$1]++) print "ok\t" line
		}'
}

# ext4_reserve SOURCE: the sysfs file of ext4's reserved clusters for the
# filesystem on SOURCE (the kernel's name of the device: /dev/mapper/x is
# dm-N there), when it exists and can be written.
ext4_reserve() {
	_dev=$(readlink -f "$AMIH_ROOT$1" 2>/dev/null || printf '%s' "$AMIH_ROOT$1")
	_f=$AMIH_ROOT/sys/fs/ext4/${_dev##*/}/reserved_clusters
	[ -f "$_f" ] && [ -w "$_f" ] && printf '%s' "$_f"
}

# kib_free DIR: KiB free in DIR's filesystem, the blocks reserved for root
# included (stat -f: root's dd fills those too, and they hold old data as
# any other free block); df's "available" where stat cannot tell.
kib_free() {
	_free=$(stat -f -c '%f %S' "$1" 2>/dev/null | awk 'NF == 2 { printf "%d\n", $1 * $2 / 1024 }')
	[ -n "$_free" ] || _free=$(df -Pk "$1" 2>/dev/null | awk 'NR == 2 { print $4 + 0 }')
	echo "${_free:-0}"
}

# zero_fill MOUNT-POINT (as the guest sees it) TYPE SOURCE: fill its free
# space with zeros through one temporary file, bounded by the free space
# found first (a filesystem that keeps growing cannot keep it going), then
# remove the file and sync. ext4 keeps clusters that nobody may allocate,
# root neither (reserved_clusters: 2% of the filesystem, at most 4096
# clusters), and those free blocks keep what they held: it is set to 0 for
# the time of the fill, then set back.
zero_fill() {
	_dir=$AMIH_ROOT$1
	_kib=$(kib_free "$_dir")
	rec change zero "$1" "$((_kib / 1024)) MiB free"
	dry_run && return 0
	temp_file "$_dir" || {
		rec warn "cannot create a file in $1: its free space was not cleared"
		return 0
	}
	_zero=$amih_tmp
	_resv_file='' _resv=''
	if [ "$2" = ext4 ] && _resv_file=$(ext4_reserve "$3"); then
		_resv=$(cat "$_resv_file")
		echo 0 >"$_resv_file" 2>/dev/null || _resv_file=
	fi
	# dd stops at the end of the free space ("No space left on device"):
	# that is how it ends, not a failure.
	dd if=/dev/zero of="$_zero" bs=1048576 count=$((_kib / 1024 + 1 + ${_resv:-0} / 256)) conv=fsync 2>/dev/null
	_written=$(wc -c <"$_zero" | tr -d ' ')
	rm -f -- "$_zero"
	sync
	if [ -n "$_resv_file" ]; then
		echo "$_resv" >"$_resv_file" || rec warn "could not set ext4's reserved clusters of $1 back to $_resv (until the next boot)"
	fi
	zeroed=$((zeroed + _written))
	if [ "$_written" -lt $((_kib * 512)) ]; then
		rec warn "wrote zeros over only $((_written / 1048576)) MiB of the $((_kib / 1024)) MiB free in $1"
	fi
}

# discard MOUNT-POINT: fstrim it; a device without discard support is
# reported, not a failure.
discard() {
	if ! have fstrim; then
		rec info "fstrim is not installed: the free blocks of $1 were not discarded"
		return 0
	fi
	rec change discard "$1"
	dry_run && return 0
	if _out=$(fstrim -v "$AMIH_ROOT$1" 2>&1); then
		_bytes=$(printf '%s\n' "$_out" | sed -n 's/.*(\([0-9][0-9]*\) bytes).*/\1/p' | head -n 1)
		discarded=$((discarded + ${_bytes:-0}))
	else
		rec info "$1: discard is not supported here ($(printf '%s' "$_out" | head -n 1)): its free blocks were zeroed only if mode asks for zero"
	fi
}

clear_filesystem() {
	_state=${1%%"$tab"*}
	_rest=${1#*"$tab"}
	_type=${_rest%%"$tab"*}
	_rest=${_rest#*"$tab"}
	_source=${_rest%%"$tab"*}
	_mount=$(printf '%b' "${_rest#*"$tab"}.")
	_mount=${_mount%.}
	if [ "$_state" = skip ]; then
		rec warn "$_mount is not a writable filesystem of a block device: left alone"
		return 0
	fi
	# A file bind-mounted from a disk (a container's /etc/hosts) is no
	# filesystem to fill.
	[ -d "$AMIH_ROOT$_mount" ] || return 0
	case $AMIH_MODE in zero | both) zero_fill "$_mount" "$_type" "$_source" ;; esac
	case $AMIH_MODE in discard | both) discard "$_mount" ;; esac
}

zeroed=0 discarded=0
listed=$(filesystems)
if [ -n "${AMIH_PATHS:-}" ]; then
	# A path that is not a mount point is the user's mistake: said, not
	# cleared through another filesystem.
	while IFS= read -r want; do
		[ -n "$want" ] || continue
		printf '%s\n' "$listed" | cut -f 4- | grep -qxF -- "$(amih_field "$want")" ||
			rec warn "$want is not a mount point: left alone (paths lists mount points)"
	done <<PATHS
$AMIH_PATHS
PATHS
fi
each_line "$listed" clear_filesystem
if ! dry_run; then
	case $AMIH_MODE in zero | both) rec count zeroed_bytes "$zeroed" ;; esac
	case $AMIH_MODE in discard | both) rec count discarded_bytes "$discarded" ;; esac
fi

# Swap: every active swap area of the image (/proc/swaps; zram is memory).
swap_header_field() { blkid -o value -s "$2" -- "$1" 2>/dev/null; }
clear_swap() {
	_area=$1
	_path=$AMIH_ROOT$1
	case $_area in /dev/zram*) return 0 ;; esac
	if [ ! -b "$_path" ] && { [ ! -f "$_path" ] || [ -L "$_path" ]; }; then
		rec warn "swap $_area is neither a block device nor a regular file: left alone"
		return 0
	fi
	_uuid=$(swap_header_field "$_path" UUID)
	_label=$(swap_header_field "$_path" LABEL)
	_used=$(awk -v a="$_area" '$1 == a { print $4 + 0 }' "$AMIH_ROOT/proc/swaps")
	_avail=$(awk '$1 == "MemAvailable:" { print $2 + 0 }' "$AMIH_ROOT/proc/meminfo" 2>/dev/null)
	rec change clear-swap "$_area" "${_uuid:+UUID $_uuid}"
	dry_run && return 0
	if [ "${_used:-0}" -gt "${_avail:-0}" ]; then
		rec warn "swap $_area was left as it is: the ${_used} KiB in use do not fit in the ${_avail:-0} KiB of free memory"
		return 0
	fi
	for _tool in swapoff swapon mkswap; do
		have "$_tool" || {
			rec warn "swap $_area was left as it is: $_tool is not installed"
			return 0
		}
	done
	swapoff "$_path" || fail "cannot turn swap $_area off"
	if [ -f "$_path" ]; then
		_size=$(wc -c <"$_path" | tr -d ' ')
		head -c "$_size" /dev/zero | dd of="$_path" bs=1048576 conv=notrunc,fsync 2>/dev/null
	else
		# The partition ends where dd stops.
		dd if=/dev/zero of="$_path" bs=1048576 conv=fsync 2>/dev/null
	fi
	set -- mkswap
	if [ -n "$_uuid" ]; then set -- "$@" -U "$_uuid"; fi
	if [ -n "$_label" ]; then set -- "$@" -L "$_label"; fi
	"$@" "$_path" >&2 || fail "mkswap $_area failed: the swap area holds zeros and no signature (fstab's entry will not find it)"
	swapon "$_path" || rec warn "swap $_area was cleared but did not turn on again"
}
if [ "$AMIH_SWAP" = 1 ] && [ -r "$AMIH_ROOT/proc/swaps" ]; then
	# The kernel's own names of files and devices (a space in a name is
	# \040 there: such an area is neither a file nor a device, and said so).
	each_line "$(awk 'NR > 1 { print $1 }' "$AMIH_ROOT/proc/swaps")" clear_swap
fi
