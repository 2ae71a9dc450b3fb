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
// its blocks; it does not clear them). On each filesystem it writes zeros
// into all its free space through one temporary file, which is then removed
// and synced (`zero`), and/or asks the device to discard its free blocks with
// `fstrim` (`discard`). The filesystem is full for the time the file is
// written; the reserves no ordinary write can fill are released for the
// fill and put back afterwards, on every way out (the step's deadline
// included): ext4's `reserved_clusters` (at most 4096 clusters) and XFS's
// reserve pool (`xfs_io -x -c resblks`, up to 32 MiB; Amazon Linux's and
// RHEL's roots are XFS). The last free blocks go into a second file of their
// own (on ext4 the first one can need a block for its extent tree that is
// no longer there), and the zeros are synced before the files are removed.
// A fill file a stopped run left (`.ami-hygiene-fill.*` at the top of the
// filesystem) is removed first. Instance-store disks, which are not in the
// image (an NVMe "Amazon EC2 NVMe Instance Storage", or the ephemeral mount
// cloud-init makes, `comment=cloudconfig` in fstab: `/mnt` on EC2's
// Ubuntu), are left out unless `paths` lists them. Each active swap file or partition of the image is turned off,
// overwritten with zeros, made again with its own UUID and label
// (`mkswap`) and turned on again. `skip_steps = ["free_space"]` turns the
// step off. See "What overwriting and clearing free space guarantee" in the
// docs for what it does not cover (copy-on-write and compressing
// filesystems, SSD remapping, snapshots taken before).
type FreeSpace struct {
	// How free space is cleared: `zero` (write zeros: the free blocks hold
	// zeros on every platform), `discard` (`fstrim`: whether the device and
	// the snapshot then drop the blocks depends on the platform; on a device
	// without discard support it is reported and skipped), or `both` (zero,
	// then discard). Default `both`.
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
	Summary: "writes zeros over the free space of every filesystem (and/or discards it with `fstrim`) and clears the swap, so that no removed file survives in the image's blocks",
	// Writing zeros runs at the disk's speed: about a minute for 8 GiB of
	// free space on a gp3 volume (125 MiB/s).
	Timeout: time.Hour,
	Touches: []string{
		"the free blocks of every writable filesystem of a block device but instance-store disks (or `paths`): temporary files `.ami-hygiene-fill.*` at its top filled with zeros, synced, then removed; `fstrim` on it; ext4's reserved clusters and XFS's reserve pool, set to 0 for the fill and back",
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
