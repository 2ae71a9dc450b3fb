# shellcheck shell=sh
# free_space: clear the free blocks of the image's filesystems (zeros through
# one temporary file, and/or fstrim) and its active swap.
# inputs: AMIH_MODE (zero | discard | both), AMIH_PATHS (mount points, one
#         per line; empty: every writable filesystem of a block device but
#         loop devices), AMIH_SWAP (1 or 0)
# The filesystem is full while the zeros are written; the file is removed
# and the reserves set back (also by at_exit, on TERM, INT and HUP too) and
# synced at once.

# filesystems: "STATE<TAB>TYPE<TAB>SOURCE<TAB>MOUNT POINT" (the mount point
# escaped as mount_table says) of every filesystem to clear: each writable
# filesystem of a block device (not a loop device) once, or the listed
# mount points. STATE is "ok", or "skip" for a listed one that is not such
# a filesystem (a tmpfs filled with zeros would fill the memory), or
# "ephemeral" for an unlisted instance-store disk (ephemeral). A mount
# point listed twice in /proc/mounts (older kernels' "rootfs /" before the
# real root) counts as the filesystem of a block device when one of its
# lines is.
filesystems() {
	mount_table | awk -F '\t' -v paths="${AMIH_PATHS:-}" '
		BEGIN { n = split(paths, p, "\n"); for (i = 1; i <= n; i++) if (p[i] != "") want[p[i]] = 1 }
		{
			split($3, opt, ",")
			ok = $1 ~ /^\/dev\// && $1 !~ /^\/dev\/loop/ && opt[1] == "rw"
			line = $2 "\t" $1 "\t" $4
			if (paths != "") {
				if (!($4 in want)) next
				if (!($4 in order)) { order[$4] = ++k; mp[k] = $4 }
				if (ok && !($4 in good)) good[$4] = line
				else if (!($4 in bad)) bad[$4] = line
				next
			}
			if (ok && !seen[$1]++) print "ok\t" line
		}
		END {
			for (i = 1; i <= k; i++)
				print (mp[i] in good) ? "ok\t" good[mp[i]] : "skip\t" bad[mp[i]]
		}' | while IFS= read -r _line; do
		if [ -z "${AMIH_PATHS:-}" ] && [ "${_line%%"$tab"*}" = ok ] && ephemeral "$(printf '%s' "$_line" | cut -f 3)" "$(printf '%s' "$_line" | cut -f 4-)"; then
			_line="ephemeral${_line#ok}"
		fi
		printf '%s\n' "$_line"
	done
}

# ephemeral SOURCE MOUNT-POINT (escaped): an instance-store disk, which is
# not in the image (EC2 drops it when the instance stops): an NVMe instance
# store (its model is "Amazon EC2 NVMe Instance Storage"), or a mount
# cloud-init's mounts module made of the ephemeral disk (its fstab line is
# marked comment=cloudconfig: /mnt on EC2's Ubuntu).
ephemeral() {
	_name=$(readlink -f "$AMIH_ROOT$1" 2>/dev/null || printf '%s' "$AMIH_ROOT$1")
	_name=${_name##*/}
	for _model in "$AMIH_ROOT/sys/class/block/$_name/device/model" "$AMIH_ROOT/sys/class/block/$_name/../device/model"; do
		if [ -f "$_model" ] && grep -q 'Instance Storage' "$_model" 2>/dev/null; then return 0; fi
	done
	[ -f "$AMIH_ROOT/etc/fstab" ] &&
		awk -v m="$2" '$1 !~ /^#/ && $2 == m && $4 ~ /(^|,)comment=cloudconfig(,|$)/ { found = 1 } END { exit !found }' "$AMIH_ROOT/etc/fstab"
}

# ext4_reserve SOURCE: the sysfs file of ext4's reserved clusters for the
# filesystem on SOURCE (the kernel's name of the device: /dev/mapper/x is
# dm-N there), when it exists and can be written.
ext4_reserve() {
	_dev=$(readlink -f "$AMIH_ROOT$1" 2>/dev/null || printf '%s' "$AMIH_ROOT$1")
	_f=$AMIH_ROOT/sys/fs/ext4/${_dev##*/}/reserved_clusters
	[ -f "$_f" ] && [ -w "$_f" ] && printf '%s' "$_f"
}

# xfs_reserve DIR: the blocks of XFS's reserve pool (xfs_io's resblks: up
# to 32 MiB by default, which no write can fill), when xfs_io can tell.
xfs_reserve() {
	have xfs_io || return 1
	xfs_io -x -c resblks "$1" 2>/dev/null | sed -n 's/^reserved blocks = \([0-9][0-9]*\)$/\1/p' | grep .
}

# kib_free DIR: KiB free in DIR's filesystem, the blocks reserved for root
# included (stat -f: root's dd fills those too, and they hold old data as
# any other free block); df's "available" where stat cannot tell. Shell
# arithmetic (64 bits), never awk's printf, which stops at 2 TiB in mawk and
# wraps in busybox.
kib_free() {
	_free=$(stat -f -c '%f %S' "$1" 2>/dev/null)
	case $_free in
	*[0-9]' '[0-9]*) _free=$((${_free% *} * ${_free#* } / 1024)) ;;
	*) _free=$(df -Pk "$1" 2>/dev/null | awk 'NR == 2 { print $4 }') ;;
	esac
	case $_free in '' | *[!0-9]*) echo 0 ;; *) echo "$_free" ;; esac
}

# What at_exit undoes, whichever way the script ends (TERM at the step's
# deadline included): the fill's file is removed, the reserves set back.
fill_file='' resv_file='' resv='' xfs_dir='' xfs_resv=''
restore() {
	if [ -n "$fill_file" ]; then
		# Written out before the file goes: the zeros a full filesystem
		# still holds in the page cache (delayed allocation; dd ending on a
		# full disk may skip its fsync) would be dropped with the file,
		# never reaching the blocks.
		sync
		rm -f -- "$fill_file" "$fill_file.last"
		fill_file=''
		sync
	fi
	if [ -n "$resv_file" ]; then
		echo "$resv" >"$resv_file" || rec warn "could not set ext4's reserved clusters back to $resv (until the next boot)"
		resv_file=''
	fi
	if [ -n "$xfs_dir" ]; then
		xfs_io -x -c "resblks $xfs_resv" "$xfs_dir" >/dev/null 2>&1 || rec warn "could not set XFS's reserve pool back to $xfs_resv blocks (until the next mount)"
		xfs_dir=''
	fi
}
at_exit() { restore; }

# bytes_in FILE: FILE's size in bytes, 0 when it is missing.
bytes_in() {
	_n=$(wc -c <"$1" 2>/dev/null | tr -d ' ')
	echo "${_n:-0}"
}

# fill FILE MIB BS: write zeros into FILE, at most MIB MiB, in blocks of BS
# bytes; dd stops at the end of the free space ("No space left on
# device"): that is how it ends, not a failure.
fill() {
	dd if=/dev/zero of="$1" bs="$3" count=$(($2 * 1048576 / $3)) conv=fsync 2>/dev/null
}

# zero_fill MOUNT-POINT (as the guest sees it) TYPE SOURCE: fill its free
# space with zeros through two temporary files, bounded by the free space
# found first (a filesystem that keeps growing cannot keep it going), then
# sync and remove them. Reserves that no ordinary write can fill are
# released for the fill and set back after it: ext4's reserved clusters
# (2% of the filesystem, at most 4096 clusters) and XFS's reserve pool.
# A first file takes the bulk in MiB blocks; a second, in 4 KiB blocks,
# the last blocks the first could not (ext4 stops a MiB write with up to a
# few hundred blocks free, and the first file may need a block for its
# extent tree that is no longer there). An orphan file of a killed run is
# removed first.
zero_fill() {
	_dir=$AMIH_ROOT$1
	for _orphan in "${_dir%/}"/.ami-hygiene-fill.*; do
		if [ -f "$_orphan" ] && [ ! -L "$_orphan" ]; then
			rec change remove "$(shown "$_orphan")" "a fill file left by a run that was stopped"
			dry_run || rm -f -- "$_orphan"
		fi
	done
	_kib=$(kib_free "$_dir")
	rec change zero "$1" "$((_kib / 1024)) MiB free"
	dry_run && return 0
	fill_file=$(mktemp "${_dir%/}/.ami-hygiene-fill.XXXXXX") || {
		fill_file=''
		rec warn "cannot create a file in $1: its free space was not cleared"
		return 0
	}
	_extra=0
	if [ "$2" = ext4 ] && resv_file=$(ext4_reserve "$3"); then
		resv=$(cat "$resv_file")
		if echo 0 >"$resv_file" 2>/dev/null; then _extra=$((resv * 4)); else resv_file=''; fi
	else
		resv_file=''
	fi
	if [ "$2" = xfs ] && xfs_resv=$(xfs_reserve "$_dir"); then
		if xfs_io -x -c 'resblks 0' "$_dir" >/dev/null 2>&1; then
			xfs_dir=$_dir
			_extra=$((_extra + xfs_resv * 4))
		fi
	fi
	_mib=$(((_kib + _extra) / 1024 + 1))
	fill "$fill_file" "$_mib" 1048576
	# The last blocks go to a file of their own: the first may need one
	# more block for its extent tree than is left, while a new file's
	# first extents live in its inode (ext4).
	_left=$(kib_free "$_dir")
	fill "$fill_file.last" $((_left / 1024 + 1)) 4096
	_written=$(($(bytes_in "$fill_file") + $(bytes_in "$fill_file.last")))
	restore
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
	elif [ "$_state" = ephemeral ]; then
		rec info "$_mount is an instance-store disk, not in the image: left alone (list it in paths to clear it)"
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
