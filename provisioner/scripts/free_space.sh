# shellcheck shell=sh
# free_space: clear the free blocks of the image's filesystems (zeros through
# temporary files that hold them: only over the blocks that hold data, or
# over all; and/or fstrim) and its active swap.
# inputs: AMIH_MODE (sparse | zero | discard | both), AMIH_PATHS (mount
#         points, one per line; empty: every writable filesystem of a block
#         device but loop devices), AMIH_SWAP (1 or 0)
# The filesystem is full (but for its reserves) while the zeros are
# written; the files are removed and synced at once (also by at_exit, on
# TERM, INT and HUP too).

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
# deadline included): the fill's files are removed, the reserves set back.
# The files are DIR/.ami-hygiene-fill.SUFFIX, SUFFIX as mktemp made it
# (letters and digits: a list of them splits on blanks safely).
fill_dir='' fill_names='' resv_file='' resv='' xfs_dir='' xfs_resv=''
restore() {
	restore_reserve
	if [ -n "$fill_dir" ]; then
		# Written out before the files go: the zeros a full filesystem
		# still holds in the page cache (delayed allocation; dd ending on a
		# full disk may skip its fsync) would be dropped with the file,
		# never reaching the blocks.
		sync
		for _s in $fill_names; do rm -f -- "${fill_dir%/}/.ami-hygiene-fill.$_s"; done
		fill_dir='' fill_names=''
		sync
	fi
}
at_exit() { restore; }

# new_fill_file: make one more fill file in fill_dir (mktemp: a new name,
# created by this run alone); its path in fill_path.
new_fill_file() {
	fill_path=$(mktemp "${fill_dir%/}/.ami-hygiene-fill.XXXXXX") || return 1
	fill_names="$fill_names ${fill_path##*.}"
}

# drop_fill_files KEEP: remove every fill file but KEEP.
drop_fill_files() {
	_keep=${1##*.}
	for _s in $fill_names; do
		[ "$_s" = "$_keep" ] || rm -f -- "${fill_dir%/}/.ami-hygiene-fill.$_s"
	done
	fill_names=" $_keep"
}

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

# full_fill FILE LAST: every free block written, FILE and LAST emptied
# first (blocks a sparse pass left in them are filled again), bounded by
# the free space then (a filesystem that keeps growing cannot keep it
# going): FILE takes the bulk in MiB blocks; LAST, in 4 KiB blocks, the
# last blocks FILE could not (ext4 stops a MiB write with up to a few
# hundred blocks free, and FILE may need a block for its extent tree that
# is no longer there, while a new file's first extents live in its inode).
# Adds what it wrote to written.
full_fill() {
	true >"$1"
	true >"$2"
	fill "$1" $(($(kib_free "$fill_dir") / 1024 + 1)) 1048576
	fill "$2" $(($(kib_free "$fill_dir") / 1024 + 1)) 4096
	written=$((written + $(bytes_in "$1") + $(bytes_in "$2")))
}

# fs_device DIR SOURCE: print the block device of the filesystem mounted on
# DIR, read through the guest's /dev: SOURCE (links resolved) when its
# device number is the filesystem's, else the kernel's name for that number
# (/sys/dev/block/MAJ:MIN; /proc/mounts may say /dev/root). A filesystem
# whose device number is no block device's (btrfs, ZFS, NFS, overlay) has
# none.
fs_device() {
	_num=$(stat -c %d "$1" 2>/dev/null) || return 1
	_maj=$((((_num >> 8) & 4095) | ((_num >> 32) & ~4095)))
	_min=$(((_num & 255) | ((_num >> 12) & ~255)))
	_want=$(printf '%x:%x' "$_maj" "$_min")
	_name=$(sed -n 's/^DEVNAME=//p' "$AMIH_ROOT/sys/dev/block/$_maj:$_min/uevent" 2>/dev/null)
	for _dev in "$AMIH_ROOT$2" ${_name:+"$AMIH_ROOT/dev/$_name"}; do
		_dev=$(readlink -f "$_dev" 2>/dev/null) || continue
		if [ -b "$_dev" ] && [ "$(stat -c '%t:%T' "$_dev" 2>/dev/null)" = "$_want" ]; then
			printf '%s' "$_dev"
			return 0
		fi
	done
	return 1
}

# sparse_support DIR TYPE SOURCE: print the filesystem's block device when
# the free space of DIR's filesystem can be cleared where it holds data
# only; else print why not and fail.
sparse_support() {
	case $2 in
	ext2 | ext3 | ext4) ;;
	xfs)
		# XFS keeps free blocks back from every file while a fill takes
		# the rest: only the guest helper can list them (GETFSMAP) once
		# the files are gone (sweep_left).
		if [ -z "$amih_helper" ]; then
			printf 'XFS is read sparsely by the guest helper only (%s)' "$helper_why"
			return 1
		fi
		;;
	*)
		printf 'the sparse pass is for ext2, ext3, ext4 and XFS; this is %s' "$2"
		return 1
		;;
	esac
	# The guest helper reads the extents and the device itself.
	_tools='filefrag cmp'
	[ -z "$amih_helper" ] || _tools=
	for _tool in fallocate blockdev $_tools; do
		have "$_tool" || {
			printf '%s is not installed' "$_tool"
			return 1
		}
	done
	_dev=$(fs_device "$1" "$3") || {
		printf 'its block device cannot be found'
		return 1
	}
	if [ -n "$amih_helper" ]; then
		if ! dd if="$_dev" of=/dev/null bs=4096 count=1 2>/dev/null </dev/null; then
			printf '%s cannot be read' "$_dev"
			return 1
		fi
		printf '%s' "$_dev"
		return 0
	fi
	# The device must be readable, and cmp must take a byte count (-n).
	LC_ALL=C cmp -n 1 /dev/zero "$_dev" 0 0 >/dev/null 2>&1 </dev/null
	case $? in 0 | 1) ;; *)
		printf '%s cannot be read' "$_dev"
		return 1
		;;
	esac
	printf '%s' "$_dev"
}

# reserve_free FILE BS MAX START: give the filesystem's free blocks to
# FILE with fallocate, which makes them the file's without writing them
# (unwritten: reading the file gives zeros): START bytes at its end while
# that fits, then halving down to one block of BS bytes, at most MAX bytes
# in all, counted in _taken. A refused request may have taken part of its size (kept with the
# file, within or past its end) or none.
reserve_free() {
	_size=$4
	while [ "$_size" -ge "$2" ]; do
		if [ $((_taken + _size)) -gt "$3" ]; then
			_size=$((_size / 2))
			continue
		fi
		_end=$(stat -c %s "$1" 2>/dev/null) || return 1
		if fallocate -o "$_end" -l "$_size" "$1" 2>/dev/null </dev/null; then
			_taken=$((_taken + _size))
		else
			_size=$((_size / 2))
		fi
	done
}

# extents FILE BS: the extents of FILE (FIEMAP, by filefrag), a line each:
# "LOGICAL PHYSICAL LENGTH" in blocks of BS bytes; fails when filefrag
# cannot tell them exactly (no FIEMAP, another unit, data not on a device
# of its own: inline, encoded, delayed, unknown).
extents() {
	_out=$(filefrag -e "$1" 2>/dev/null </dev/null) || return 1
	printf '%s\n' "$_out" | awk -v bs="$2" '
		/^File size of .* blocks of [0-9]+ bytes\)$/ { n = split($0, w, " "); unit = w[n - 1] }
		/^ *ext: +logical_offset/ { header = 1 }
		/^ *[0-9]+: / {
			if (!header || unit != bs) bad = 1
			if ($0 ~ /unknown_loc|delalloc|inline|encoded|not_aligned|encrypted/) bad = 1
			line = $0; gsub(/\.\.|:/, " ", line); split(line, f, " ")
			print f[2], f[4], f[6]
		}
		END { exit bad }'
}

# zero_data FILE DEVICE BS LOGICAL PHYSICAL LENGTH: read the extent's
# blocks on the device (cmp against /dev/zero: the first byte that is not
# zero) and write zeros through FILE over each run of blocks that holds
# data: 16 blocks first, twice as many each time the next block holds data
# too (at most 1024), so that a long run costs few writes and a lone dirty
# block little more than itself. O_DIRECT writes: the zeros are on the
# device when dd returns (a buffered write is the fallback, synced before
# the file goes). Counts to scanned and dirty.
zero_data() {
	_pos=0 _run=16 _end=-1
	scanned=$((scanned + $6 * $3))
	while [ "$_pos" -lt "$6" ]; do
		_out=$(LC_ALL=C cmp -n $((($6 - _pos) * $3)) /dev/zero "$2" 0 $((($5 + _pos) * $3)) 2>&1 </dev/null | head -n 1)
		case $_out in
		'') return 0 ;;
		*' differ: '*' '[0-9]*', '*)
			_at=${_out##*differ: }
			_at=${_at#* }
			_at=${_at%%,*}
			;;
		*)
			why="reading $2 failed: $_out"
			return 1
			;;
		esac
		_first=$((_pos + (_at - 1) / $3))
		if [ "$_first" -eq "$_end" ]; then
			_run=$((_run * 2))
			[ "$_run" -le 1024 ] || _run=1024
		else
			_run=16
		fi
		_n=$_run
		[ $((_first + _n)) -le "$6" ] || _n=$(($6 - _first))
		dd if=/dev/zero of="$1" bs="$3" seek=$(($4 + _first)) count="$_n" conv=notrunc oflag=direct 2>/dev/null </dev/null ||
			dd if=/dev/zero of="$1" bs="$3" seek=$(($4 + _first)) count="$_n" conv=notrunc,fsync 2>/dev/null </dev/null || {
			why="writing zeros through $(shown "$1") failed"
			return 1
		}
		dirty=$((dirty + _n * $3))
		_pos=$((_first + _n))
		_end=$_pos
	done
}

# sparse_pass DEVICE BS MAX FILE LAST: reserve the free space into FILE,
# and the last blocks FILE could not take (its extent tree may need a block
# that is no longer there) into LAST (reserve_free), then read every
# reserved block on the device and write zeros where one holds data
# (zero_data). The blocks are the files' for the whole pass: nothing else
# can be given them while they are read and written, and the zeros go
# through the files, never to the device. Fails, with why, when a part of
# it cannot be done.
sparse_pass() {
	_taken=0
	if ! reserve_free "$4" "$2" "$3" 1073741824 || ! reserve_free "$5" "$2" "$3" 1048576; then
		why="cannot reserve its free space"
		return 1
	fi
	# Reads must see the device, not blocks the page cache kept from
	# before (a block freed since may hold other data now).
	blockdev --flushbufs "$1" 2>/dev/null </dev/null
	for _file in "$4" "$5"; do
		zero_file "$_file" "$1" "$2" || return 1
	done
}

# zero_file FILE DEVICE BS: the guest helper's zero-free where it runs
# (the same work as below, in Go), else zero_data over each extent of
# FILE. Fails, with why, when a part of it cannot be done.
zero_file() {
	if [ -n "$amih_helper" ]; then
		helper_says zero-free "$1" "$2" "$3" "$seen" || return 1
		scanned=$((scanned + _hread))
		dirty=$((dirty + _hdirty))
		return 0
	fi
	_list=$(extents "$1" "$3") || {
		why="filefrag cannot tell where its blocks are (FIEMAP)"
		return 1
	}
	while read -r _log _phys _len; do
		[ -n "$_len" ] || continue
		zero_data "$1" "$2" "$3" "$_log" "$_phys" "$_len" || return 1
	done <<EXTENTS
$_list
EXTENTS
}

# helper_says ARG...: run the guest helper; its answer, two numbers and
# nothing else, in _hread and _hdirty. Fails, with why, on any other.
helper_says() {
	_out=$("$amih_helper" "$@" 2>&1 </dev/null) || {
		why="the guest helper failed: $_out"
		return 1
	}
	_hread=${_out%% *} _hdirty=${_out#* } _hok=1
	case $_hread in '' | *[!0-9]*) _hok=0 ;; esac
	case $_hdirty in '' | *[!0-9]*) _hok=0 ;; esac
	if [ "$_hok" = 0 ] || [ "$_hread $_hdirty" != "$_out" ]; then
		why="the guest helper answered $_out"
		return 1
	fi
}

# sweep_left DEVICE BS (XFS): once the fill files are gone, the guest
# helper reads the free blocks none of them held (free-left: GETFSMAP,
# less the ranges in seen). XFS keeps free blocks back from every file —
# its per-AG reservations for its own btrees (reflink, rmapbt: a few MiB a
# GiB), its free lists — and gives some back when the fill files go: they
# may hold old data, and neither fallocate nor written data can take them.
# Where some do, the helper writes zeros over them on the device itself,
# the filesystem frozen meanwhile (zero-left: nothing can be allocated
# while it is frozen, each block is checked free again first, the freeze
# lasts 5 s at most), and they are read once more. Where that cannot be
# done, or GETFSMAP cannot list the free blocks, every free block is
# written with zeros (full_fill) and read once more: a warning says what
# is still left.
sweep_left() {
	if ! helper_says free-left "$_dir" "$1" "$2" "$seen"; then
		rec info "$_zmp: every free block is written with zeros: the free blocks the fill files did not hold cannot be listed ($why)"
	else
		scanned=$((scanned + _hread))
		[ "$_hdirty" -gt 0 ] || return 0
		_left=$_hdirty
		if helper_says zero-left "$_dir" "$1" "$2" "$seen"; then
			scanned=$((scanned + _hread))
			dirty=$((dirty + _hdirty))
			if helper_says free-left "$_dir" "$1" "$2" "$seen"; then
				if [ "$_hdirty" -eq 0 ]; then
					rec info "$_zmp: $((_left / 1024)) KiB of free blocks that no file can take held data: zeros written over them on the device, the filesystem frozen meanwhile"
					return 0
				fi
				why="$((_hdirty / 1024)) KiB still hold data after zeros were written over them"
			fi
		fi
		rec info "$_zmp: every free block is written with zeros: $((_left / 1024)) KiB of free blocks no fill file could take hold data ($why)"
	fi
	fill_dir=$_dir
	new_fill_file || return 0
	_a=$fill_path
	new_fill_file || return 0
	full_fill "$_a" "$fill_path"
	restore
	if helper_says free-left "$_dir" "$1" "$2" "$seen" && [ "$_hdirty" -gt 0 ]; then
		rec warn "$_zmp: $((_hdirty / 1024)) KiB of free blocks still hold data: the filesystem kept them for itself while every fill ran"
	fi
}

# reserve_blocks TYPE SOURCE: the blocks of the filesystem's reserve
# (ext4's reserved clusters, XFS's reserve pool) when there is one and it
# can be set; fails otherwise.
reserve_blocks() {
	case $1 in
	xfs) _r=$(xfs_reserve "$_dir") ;;
	ext2 | ext3 | ext4) _r=$(ext4_reserve "$2") && _r=$(cat "$_r" 2>/dev/null) ;;
	*) return 1 ;;
	esac || return 1
	case $_r in '' | 0 | *[!0-9]*) return 1 ;; esac
	echo "$_r"
}

# set_reserve TYPE DIR BLOCKS: set the filesystem's reserve (ext4's
# reserved clusters through resv_file, XFS's reserve pool) to BLOCKS.
set_reserve() {
	if [ "$1" = xfs ]; then
		xfs_io -x -c "resblks $3" "$2" >/dev/null 2>&1 </dev/null
	else
		echo "$3" 2>/dev/null >"$resv_file"
	fi
}

# clear_reserve TYPE SOURCE DEVICE BS FILE: the free blocks the
# filesystem keeps back from every ordinary write, root's included (ext4's
# reserved clusters: 2% of it, at most 4096 clusters; XFS's reserve pool:
# up to 32 MiB), hold old data as any other free block, and they are the
# only free blocks left once the fill has taken the rest. Their turn comes
# last, everyone's writes synced first: the reserve is set to 0, FILE (a
# fill file) takes every free block with fallocate (nothing written), the
# reserve is set back and the other fill files are removed (their zeros are
# on the disk: synced), so that the filesystem has free blocks again,
# more than its reserve, blocks that hold zeros; then FILE's blocks are
# cleared (where they hold data, read on DEVICE; else all of them). From
# the reserve's release to the removal (three calls on ext4, a few more on
# XFS) the filesystem has no free block at all: writing back another
# process's data may need a block for its extent tree then, and ext4 drops
# such data ("Delayed block allocation failed"): the reserve is never
# released for longer, nor while zeros are written. (A hole punched in a
# fill file would not do: with no free block, ext4 may need one to split
# the file's extent for the hole, and refuses: nothing is given back.)
clear_reserve() {
	_rblocks=$(reserve_blocks "$1" "$2") || return 0
	if ! have fallocate; then
		rec info "$_zmp: the $((_rblocks * $4 / 1024)) KiB of free blocks $1 keeps for itself were not cleared: fallocate is not installed"
		return 0
	fi
	sync
	_size=$(($(kib_free "$_dir") * 1024 + _rblocks * $4))
	# From here on at_exit sets the reserve back too.
	resv=$_rblocks
	case $1 in xfs) xfs_dir=$_dir xfs_resv=$_rblocks ;; *) resv_file=$(ext4_reserve "$2") ;; esac
	set_reserve "$1" "$_dir" 0 || {
		restore_reserve
		rec info "$_zmp: the $((_rblocks * $4 / 1024)) KiB of free blocks $1 keeps for itself were not cleared: its reserve cannot be set"
		return 0
	}
	# The window, as short as it can be: ext4 keeps what one call could
	# take; XFS takes all of a request or none of it (halving).
	if [ "$1" = xfs ]; then
		_taken=0
		reserve_free "$5" "$4" "$_size" $((_rblocks * $4))
	else
		fallocate -l "$_size" "$5" 2>/dev/null </dev/null
	fi
	restore_reserve
	drop_fill_files "$5"
	_held=$(stat -c '%b %B' "$5" 2>/dev/null)
	case $_held in *[0-9]' '[0-9]*) _held=$((${_held% *} * ${_held#* })) ;; *) _held=0 ;; esac
	if [ -n "$3" ] && [ -z "$why" ]; then
		blockdev --flushbufs "$3" 2>/dev/null </dev/null
		zero_file "$5" "$3" "$4" && return 0
		rec info "$_zmp: the free blocks $1 keeps for itself were filled with zeros: $why"
	fi
	dd if=/dev/zero of="$5" bs="$4" count=$((_held / $4)) conv=notrunc,fsync 2>/dev/null </dev/null
	written=$((written + _held))
}

# restore_reserve: set the reserve clear_reserve released back.
restore_reserve() {
	if [ -n "$resv_file" ]; then
		echo "$resv" >"$resv_file" || rec warn "could not set ext4's reserved clusters back to $resv (until the next boot)"
		resv_file=''
	fi
	if [ -n "$xfs_dir" ]; then
		xfs_io -x -c "resblks $xfs_resv" "$xfs_dir" >/dev/null 2>&1 </dev/null || rec warn "could not set XFS's reserve pool back to $xfs_resv blocks (until the next mount)"
		xfs_dir=''
	fi
}

# zero_fill MOUNT-POINT (as the guest sees it) TYPE SOURCE: clear its free
# blocks through seven temporary files, made first (XFS may need free
# blocks to make a file), bounded by the free space found first, then sync
# and remove them. On ext2/3/4 zeros are written only over the free blocks
# that hold data (sparse_pass); elsewhere, in mode zero or both, or when
# that cannot be done, over every free block (full_fill). The filesystem's
# reserves stay in place all the while (another process's data may need
# them); the free blocks they keep get their own turn last
# (clear_reserve). An orphan file of a killed run is removed first.
zero_fill() {
	_zmp=$1 _zfs=$2 _zsrc=$3
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
	fill_dir=$_dir fill_names='' written=0 scanned=0 dirty=0 why='' _dev='' seen=''
	# The device ranges the guest helper has read (zero-free), in its
	# private folder, for free-left (sweep_left).
	if [ -n "$amih_helper" ]; then
		seen=${amih_helper%/*}/seen
		rm -f -- "$seen"
	fi
	set --
	for _i in 1 2 3 4 5 6 7; do
		new_fill_file || {
			rec warn "cannot create a file in $_zmp: its free space was not cleared"
			restore
			return 0
		}
		set -- "$@" "$fill_path"
	done
	_bs=$(stat -f -c %S "$_dir" 2>/dev/null)
	case $_bs in '' | *[!0-9]*) _bs=4096 ;; esac
	if [ "$AMIH_MODE" != sparse ]; then
		why="mode $AMIH_MODE"
	elif ! _dev=$(sparse_support "$_dir" "$_zfs" "$_zsrc"); then
		why=$_dev _dev=''
	fi
	if [ -z "$why" ]; then
		_method=sparse
		# The first pass leaves some blocks free: turning an unwritten
		# extent into written ones may need new blocks for the file's
		# extent tree, and ext4, refused one, writes zeros over the whole
		# extent instead (its zeroout). The second pass takes them but
		# one MiB, which is filled (the last blocks a file can get). The
		# bounds leave out the reserve, which no pass can take.
		_rkib=$(($(reserve_blocks "$_zfs" "$_zsrc" || echo 0) * _bs / 1024))
		if ! sparse_pass "$_dev" "$_bs" $(((_kib - _rkib) * 1024 - 8388608)) "$1" "$2"; then
			_method=full
			rec info "$_zmp: every free block is written with zeros ($why)"
			full_fill "$1" "$2"
		elif sparse_pass "$_dev" "$_bs" $((($(kib_free "$_dir") - _rkib) * 1024 - 1048576)) "$3" "$4"; then
			full_fill "$5" "$6"
		else
			rec info "$_zmp: the last free blocks were filled with zeros: $why"
			full_fill "$3" "$4"
		fi
	else
		_method=full
		[ "$AMIH_MODE" = sparse ] && rec info "$_zmp: every free block is written with zeros ($why)"
		full_fill "$1" "$2"
	fi
	clear_reserve "$_zfs" "$_zsrc" "$_dev" "$_bs" "$7"
	restore
	[ "$_method" != sparse ] || [ "$_zfs" != xfs ] || sweep_left "$_dev" "$_bs"
	zeroed=$((zeroed + written + dirty))
	read_bytes=$((read_bytes + scanned))
	if [ "$_method" = sparse ]; then
		rec info "$_zmp: sparse ($sparse_by): $((scanned / 1048576)) MiB of free blocks read, $((dirty / 1048576)) MiB held data and were overwritten with zeros"
	elif [ "$written" -lt $((_kib * 512)) ]; then
		rec warn "wrote zeros over only $((written / 1048576)) MiB of the $((_kib / 1024)) MiB free in $_zmp"
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
	case $AMIH_MODE in sparse | zero | both) zero_fill "$_mount" "$_type" "$_source" ;; esac
	case $AMIH_MODE in sparse | discard | both) discard "$_mount" ;; esac
}

zeroed=0 read_bytes=0 discarded=0
# The sparse passes read the free blocks with the guest helper where it
# runs (FIEMAP, 1 MiB direct reads compared in memory), else in sh
# (filefrag, cmp: slower).
sparse_by="in sh: the guest helper was not needed"
if [ "$AMIH_MODE" = sparse ] && ! dry_run; then
	if helper_install; then
		sparse_by="guest helper"
	else
		sparse_by="in sh with filefrag and cmp: $helper_why"
	fi
fi
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
	case $AMIH_MODE in sparse | zero | both) rec count zeroed_bytes "$zeroed" ;; esac
	case $AMIH_MODE in sparse) rec count read_bytes "$read_bytes" ;; esac
	case $AMIH_MODE in sparse | discard | both) rec count discarded_bytes "$discarded" ;; esac
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
