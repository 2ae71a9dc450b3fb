//go:generate go tool packer-sdc mapstructure-to-hcl2 -type FreeSpace
//go:generate go tool packer-sdc struct-markdown

package provisioner

import (
	"fmt"
	"time"
)

// FreeSpace configures the `free_space` step: clear the free blocks of the
// image's filesystems and its swap, after every step that removes files, so
// that the image's blocks hold nothing a step removed (removing a file frees
// its blocks; it does not clear them). By default (`sparse`) it writes zeros
// only over the free blocks that hold data: on ext4 (and on XFS with the
// guest helper) it gives all the free
// space to temporary files with `fallocate` (the blocks become the files'
// without being written), reads where they are (FIEMAP), reads those blocks
// on the filesystem's block device and writes zeros through the files
// (never to the device), with direct I/O, over each run of blocks that is
// not zero already; then the files are synced and removed. The plugin's
// guest helper does the reading and writing (a small static program the
// plugin uploads for the guest's architecture, amd64 or arm64, and runs
// from a private folder of root on a tmpfs once its SHA-256 is checked
// there: 1 MiB direct reads compared with zeros in memory); where it cannot
// run, the step does the same in sh with `filefrag -e` and `cmp`, more
// slowly, and says why. The blocks are the files' the whole
// time they are read and written, so nothing else can be given them. A
// free block that holds zeros already is read, not written: the AMI's
// snapshot and the build's time grow with the data the build deleted, not
// with the size of the disk. XFS keeps free blocks back from every file
// (its per-AG reservations for its btrees, its free lists): there, once the
// fill files are gone, the guest helper lists the free blocks (GETFSMAP)
// and reads those no fill file held; where one holds data it freezes the
// filesystem (FIFREEZE: nothing can be allocated meanwhile), checks each
// such range is free still and writes zeros over it on the device, then
// thaws (5 s frozen at most, 64 MiB at most); where that cannot be done the
// full fill follows, then a last read, and a warning says what is left.
// Where the sparse way cannot be done — XFS without the guest helper,
// btrfs, ZFS, a device the guest cannot read, no `fallocate`,
// `filefrag`, `cmp` or `blockdev` — and in mode `zero` or `both`, zeros are
// written into all the free space instead (the full fill), and the step
// says why. The filesystem is full for the time of either, but for the
// reserves no ordinary write can take, which stay in place meanwhile
// (another process's data written back then may need them: ext4 drops it
// otherwise): ext4's `reserved_clusters` (at most 4096 clusters) and XFS's
// reserve pool (`xfs_io -x -c resblks`, up to 32 MiB; Amazon Linux's and
// RHEL's roots are XFS). Their free blocks get their own turn last, after
// a sync: the reserve is set to 0 for the one `fallocate` that takes every
// free block (a few on XFS), set back, and the other fill files, which
// hold zeros, are removed at once, so that the filesystem has free blocks
// again, more than its reserve (a hole punched in a fill file was refused
// by a full ext4: it may need a block to split an extent); then zeros go
// through the file that took them, as above. On an ext4 with `bigalloc`,
// the blocks of a cluster past the end of a file are that file's: no fill
// reaches them (up to 15 blocks a fill file with 16-block clusters). The reserve is put back on
// every way out (the step's deadline included). The full fill's last free
// blocks go into a second file of their
// own (on ext4 the first one can need a block for its extent tree that is
// no longer there), and the zeros are synced before the files are removed.
// A fill file a stopped run left (`.ami-hygiene-fill.*` at the top of the
// filesystem) is removed first. Instance-store disks, which are not in the
// image (an NVMe "Amazon EC2 NVMe Instance Storage", or the ephemeral mount
// cloud-init makes, `comment=cloudconfig` in fstab: `/mnt` on EC2's
// Ubuntu), are left out unless `paths` lists them. Each active swap file or
// partition of the image is turned off, overwritten with zeros, made again
// with its own UUID and label (`mkswap`) and turned on again. The report
// keeps, per filesystem, the method and why, the free space read and the
// bytes that held data and were zeroed (`read_bytes`, `zeroed_bytes`).
// `skip_steps = ["free_space"]` turns the step off. See "What overwriting
// and clearing free space guarantee" in the docs for what it costs on EBS
// and what it does not cover (copy-on-write and compressing filesystems,
// SSD remapping, snapshots taken before).
type FreeSpace struct {
	// How free space is cleared: `sparse` (write zeros over the free blocks
	// that hold data, where the step can tell which: ext4, and XFS with the
	// guest helper; elsewhere over all of them; then discard), `zero`
	// (write zeros over every free block: the full fill), `discard` (`fstrim` only: whether the device
	// and the snapshot then drop the blocks depends on the platform; on a
	// device without discard support it is reported and skipped), or `both`
	// (the full fill, then discard). In every mode but `discard` the free
	// blocks hold zeros afterwards, on every platform. Default `sparse`.
	Mode string `mapstructure:"mode"`
	// Mount points of the filesystems to clear, e.g. `["/", "/var"]`.
	// Default: every mounted, writable filesystem of a block device (not a
	// loop device, not an instance-store disk), each device once. List an
	// instance-store mount here to clear it anyway.
	Paths []string `mapstructure:"paths"`
	// Clear the image's active swap files and partitions (not zram, which is
	// memory). Default `true`.
	Swap *bool `mapstructure:"swap"`
}

var freeSpaceStep = stepDef{
	Name:    "free_space",
	Title:   "clear free space and swap",
	Summary: "writes zeros over the free blocks of every filesystem that hold data (or over all of them; and/or discards them with `fstrim`) and clears the swap, so that no removed file survives in the image's blocks",
	// Writing zeros runs at the disk's speed: about a minute for 8 GiB of
	// free space on a gp3 volume (125 MiB/s).
	Timeout: time.Hour,
	Helper:  true,
	Touches: []string{
		"the free blocks of every writable filesystem of a block device but instance-store disks (or `paths`): temporary files `.ami-hygiene-fill.*` at its top that take them (`fallocate`), zeros written through them where a block holds data (or everywhere), synced, then removed; `fstrim` on it; ext4's reserved clusters and XFS's reserve pool, set to 0 for the one `fallocate` that takes their free blocks and back at once",
		"each active swap file or partition (not zram): turned off, overwritten with zeros, `mkswap` with its UUID and label, turned on again",
	},
	configOf: func(c *Config) stepConfig { return &c.FreeSpace },
}

func (s *FreeSpace) prepare(v *validator, attr string) {
	v.choose(attr, &s.Mode, choiceOf("free_space", "mode"))
	for i, p := range s.Paths {
		v.literalPath(fmt.Sprintf("%s.paths[%d]", attr, i), p)
	}
	if s.Swap == nil {
		swap := true
		s.Swap = &swap
	}
}

func (s *FreeSpace) env() []envVar {
	return []envVar{
		{"AMIH_MODE", s.Mode},
		{"AMIH_PATHS", lines(s.Paths)},
		{"AMIH_SWAP", flag(s.Swap != nil && *s.Swap)},
	}
}
