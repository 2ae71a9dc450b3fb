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
// written; on ext4 even the clusters it keeps from everyone
// (`reserved_clusters`, at most 4096) are filled, and its setting is put
// back afterwards. Each active swap file or partition of the image is turned off,
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
	// loop device), each device once.
	Paths []string `mapstructure:"paths"`
	// Clear the image's active swap files and partitions (not zram, which is
	// memory). Default `true`.
	Swap *bool `mapstructure:"swap"`
}

var freeSpaceStep = stepDef{
	Name:  "free_space",
	Title: "clear free space and swap",
	// Writing zeros runs at the disk's speed: about a minute for 8 GiB of
	// free space on a gp3 volume (125 MiB/s).
	Timeout: time.Hour,
	Touches: []string{
		"the free blocks of every writable filesystem of a block device (or `paths`): a temporary file `.ami-hygiene.*` at its top filled with zeros, then removed and synced; `fstrim` on it",
		"each active swap file or partition (not zram): turned off, overwritten with zeros, `mkswap` with its UUID and label, turned on again",
	},
	configOf: func(c *Config) stepConfig { return &c.FreeSpace },
}

func (s *FreeSpace) prepare(v *validator, attr string) {
	if s.Mode == "" {
		s.Mode = "both"
	}
	v.oneOf(attr+".mode", s.Mode, "zero", "discard", "both")
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
