//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestFreeSpaceOnXFS (issue 25): free_space's default mode on an XFS
// filesystem of a real guest (a data disk of its own, /dev/vdc, made and
// mounted in the guest; XFS is the root of Amazon Linux and RHEL). The
// guest writes a secret and deletes it, and the disk's file on the host
// is shown to hold it; the plugin clears the free space with the guest
// helper (sparse: the free blocks read, zeros written where they hold
// data, then the free blocks no fill file could take read too); the disk
// then holds 0 copies, and the blocks the step wrote are few: the disk's
// file (raw, sparse on the host) grows by the secret's size and a little
// more, not by the free space. (Debian 13's XFS, reflink and rmapbt, keeps
// the last 5 MiB of the secret's blocks back from every file, the full
// fill's included: the guest helper clears them on the device, the
// filesystem frozen; on the first version the full fill ran, wrote 849 MiB
// and left them.)
func TestFreeSpaceOnXFS(t *testing.T) {
	const diskMiB, secretMiB = 1024, 64
	dir := workDir(t, "xfs-disk")
	disk := filepath.Join(dir, "xfs.raw")
	if err := os.WriteFile(disk, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, diskMiB<<20); err != nil {
		t.Fatal(err)
	}
	bed := NewBedWithDisks(t, "xfs", disk)
	const marker = "e2e-xfs-deleted-secret"
	// The guest makes the filesystem (its own mkfs.xfs and kernel), and a
	// file that is written, synced and deleted: its blocks are free and
	// hold the marker; a file that stays holds the same marker, and must
	// keep it.
	bed.Inspect(`set -e
mkfs.xfs -q -f /dev/vdc
mkdir -p /srv/xfs
mount -t xfs /dev/vdc /srv/xfs
yes '` + marker + `' | head -c ` + strconv.Itoa(secretMiB<<20) + ` > /srv/xfs/secret
yes 'e2e-xfs-kept-data' | head -c 1048576 > /srv/xfs/kept
sync
rm /srv/xfs/secret
sync
echo "mounted=$(findmnt -n -o FSTYPE /srv/xfs)"`)
	before := countMarkers(t, disk, []string{marker, "e2e-xfs-kept-data"})
	if before[marker] < secretMiB<<20/len(marker+"\n")/2 {
		t.Fatalf("the disk holds %d copies of the deleted secret before the build, want at least half of it", before[marker])
	}
	grownBefore := allocatedMiB(t, disk)
	bed.MustBuild(Template{Hygiene: hygieneBody(`    steps = ["free_space"]
    free_space {
      paths = ["/srv/xfs"]
      swap  = false
    }`)})
	kept := bed.Inspect(`sync; echo "kept=$(md5sum < /srv/xfs/kept | cut -c1-32)"; echo "expect=$(yes 'e2e-xfs-kept-data' | head -c 1048576 | md5sum | cut -c1-32)"`)
	if first(kept, "kept") != first(kept, "expect") {
		t.Errorf("the file that stays on the XFS disk changed: %v", kept)
	}
	report := bed.Report("report.json")
	var info []string
	for _, step := range report.Steps {
		if step.Name == "free_space" {
			info = step.Info
			if len(step.Warnings) > 0 {
				t.Errorf("free_space warned: %q", step.Warnings)
			}
		}
	}
	t.Logf("free_space: %q", info)
	if !slices.ContainsFunc(info, func(s string) bool { return strings.HasPrefix(s, "/srv/xfs: sparse (guest helper): ") }) {
		t.Errorf("free_space did not read /srv/xfs sparsely with the guest helper: %q", info)
	}
	after := countMarkers(t, disk, []string{marker, "e2e-xfs-kept-data"})
	if after[marker] != 0 {
		t.Errorf("%d copies of the deleted secret are still on the XFS disk (%d before), at %s", after[marker], before[marker], markerRanges(t, disk, marker))
		// What the filesystem says those blocks are (512-byte units).
		bed.Inspect(`xfs_info /srv/xfs | sed 's/^/info=/'; xfs_io -c 'fsmap -d -v' /srv/xfs | sed 's/^/fsmap=/'; xfs_io -x -c resblks /srv/xfs | sed 's/^/resblks=/'`)
	}
	if after["e2e-xfs-kept-data"] < before["e2e-xfs-kept-data"] {
		t.Errorf("the kept file's data: %d copies before, %d after", before["e2e-xfs-kept-data"], after["e2e-xfs-kept-data"])
	}
	grown := allocatedMiB(t, disk) - grownBefore
	fullFill := slices.ContainsFunc(info, func(s string) bool { return strings.Contains(s, "every free block is written with zeros") })
	t.Logf("the XFS disk grew by %d MiB (deleted secret %d MiB, disk %d MiB; full fill taken: %v)", grown, secretMiB, diskMiB, fullFill)
	if fullFill {
		t.Errorf("the full fill was taken: %q", info)
	}
	if grown > 2*secretMiB+16 {
		t.Errorf("the XFS disk grew by %d MiB: more than twice the %d MiB that held data (+16)", grown, secretMiB)
	}
}

// markerRanges lists the 4 KiB blocks of a file that hold marker, merged
// into ranges, in 512-byte units as xfs_io's fsmap gives them.
func markerRanges(t *testing.T, path, marker string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	start, last := int64(-1), int64(-2)
	flush := func() {
		if start >= 0 {
			out = append(out, fmt.Sprintf("[%d..%d]", start*8, last*8+7))
		}
	}
	for i := 0; i+4096 <= len(data); i += 4096 {
		if !bytes.Contains(data[i:i+4096], []byte(marker)) {
			continue
		}
		b := int64(i / 4096)
		if b != last+1 {
			flush()
			start = b
		}
		last = b
	}
	flush()
	return strings.Join(out, " ")
}

// allocatedMiB is the space a sparse file takes on the host, in MiB.
func allocatedMiB(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512 >> 20
}
