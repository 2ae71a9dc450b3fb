package provisioner

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// freeSpaceGuest is a guest with two filesystems of block devices (one
// with a space in its mount point), a bind mount of the first, a tmpfs, a
// loop device, a read-only filesystem and a swap file holding a secret; df
// says each has 2 MiB free (dd then writes 3 MiB at most: the test tree is
// no full disk), fstrim trims 1 MiB but on /srv/nodiscard.
func freeSpaceGuest(g *guestTree) {
	g.file("proc/mounts", `/dev/vda1 / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid 0 0
tmpfs /tmp tmpfs rw,nosuid 0 0
/dev/vda1 /var/tmp/volume ext4 rw,relatime 0 0
/dev/loop0 /mnt/loop ext4 rw 0 0
/dev/vdb1 /boot/efi vfat ro 0 0
/dev/vdc /srv/with\040space ext4 rw 0 0
/dev/vdd /srv/nodiscard xfs rw 0 0
`)
	for _, d := range []string{"tmp", "var/tmp/volume", "mnt/loop", "boot/efi", "srv/with space", "srv/nodiscard"} {
		g.dir(d)
	}
	g.file("proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n/swapfile                               file\t\t8\t\t0\t\t-2\n/dev/zram0 partition 1024 0 100\n")
	g.file("proc/meminfo", "MemTotal: 2000000 kB\nMemAvailable: 1500000 kB\n")
	g.file("swapfile", strings.Repeat("SWAPPED-SECRET\n", 512))
	g.shim("df", `for d; do :; done; printf 'Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/x 10000 100 2048 1%% %s\n' "$d"`)
	// stat -f counts root's reserved blocks as free (3 MiB), df does not.
	g.shim("stat", `printf '768 4096\n'`)
	g.shim("fstrim", `echo "fstrim $*" >>"$STATE/trim"; for d; do :; done; case $d in *nodiscard) echo "fstrim: $d: the discard operation is not supported" >&2; exit 1 ;; esac; echo "$d: 1 MiB (1048576 bytes) trimmed"`)
	g.shim("blkid", `case $* in *UUID*) echo 0a1b2c3d-0000-4000-8000-000000000001 ;; *LABEL*) echo swap1 ;; esac`)
	for _, c := range []string{"swapoff", "swapon", "mkswap"} {
		g.shim(c, `echo "`+c+` $*" >>"$STATE/swap"`)
	}
}

func TestScriptsFreeSpace(t *testing.T) {
	cases := []struct {
		name             string
		mode, paths, dry string
		zero, discard    []string
		swap             bool
		warns            []string
	}{
		{name: "both, every local filesystem", mode: "both", dry: "0",
			zero: []string{"/", "/srv/nodiscard", "/srv/with space"}, discard: []string{"/", "/srv/nodiscard", "/srv/with space"}, swap: true},
		{name: "zero only", mode: "zero", dry: "0", zero: []string{"/", "/srv/nodiscard", "/srv/with space"}, swap: true},
		{name: "discard only", mode: "discard", dry: "0", discard: []string{"/", "/srv/nodiscard", "/srv/with space"}, swap: true},
		{name: "paths", mode: "both", paths: "/srv/with space\n/srv/missing\n/tmp\n/mnt/loop", dry: "0",
			zero: []string{"/srv/with space"}, discard: []string{"/srv/with space"}, swap: true,
			warns: []string{"/srv/missing is not a mount point", "/tmp is not a writable filesystem of a block device", "/mnt/loop is not a writable filesystem"}},
		{name: "dry run", mode: "both", dry: "1",
			zero: []string{"/", "/srv/nodiscard", "/srv/with space"}, discard: []string{"/", "/srv/nodiscard", "/srv/with space"}, swap: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				freeSpaceGuest(g)
				res := g.run("free_space.sh", envVar{"AMIH_MODE", c.mode}, envVar{"AMIH_PATHS", c.paths}, envVar{"AMIH_SWAP", "1"}, envVar{"AMIH_DRY_RUN", c.dry})
				if res.code != 0 {
					t.Fatalf("code %d\n%s", res.code, res.other)
				}
				if got := res.targets("zero"); !slices.Equal(got, c.zero) {
					t.Errorf("zeroed %v, want %v", got, c.zero)
				}
				if got := res.targets("discard"); !slices.Equal(got, c.discard) {
					t.Errorf("discarded %v, want %v", got, c.discard)
				}
				var warns []string
				for _, w := range res.kind("warn") {
					warns = append(warns, w.field(0))
				}
				for _, w := range c.warns {
					if !strings.Contains(strings.Join(warns, "\n"), w) {
						t.Errorf("no warning %q in %v", w, warns)
					}
				}
				if !slices.Equal(res.targets("clear-swap"), []string{"/swapfile"}) {
					t.Errorf("swap cleared: %v, want /swapfile (never zram)", res.targets("clear-swap"))
				}
				// Nothing of the zero files is left, anywhere.
				filepath.Walk(g.root, func(p string, _ os.FileInfo, _ error) error {
					if strings.Contains(filepath.Base(p), ".ami-hygiene") {
						t.Errorf("left behind: %s", p)
					}
					return nil
				})
				swap := g.read("swapfile")
				if c.dry == "1" {
					if !strings.Contains(swap, "SWAPPED-SECRET") || g.exists("../state/swap") {
						t.Errorf("dry run touched the swap")
					}
					if g.exists("../state/trim") || len(res.kind("count")) > 0 {
						t.Errorf("dry run trimmed or zeroed: %v", res.kind("count"))
					}
					return
				}
				if swap != strings.Repeat("\x00", 512*15) {
					t.Errorf("the swap file was not overwritten with zeros (%d bytes, secret left: %v)", len(swap), strings.Contains(swap, "SECRET"))
				}
				swapCalls, _ := os.ReadFile(filepath.Join(g.state, "swap"))
				want := "swapoff " + g.root + "/swapfile\nmkswap -U 0a1b2c3d-0000-4000-8000-000000000001 -L swap1 " + g.root + "/swapfile\nswapon " + g.root + "/swapfile\n"
				if string(swapCalls) != want {
					t.Errorf("swap commands:\n%s\nwant:\n%s", swapCalls, want)
				}
				if len(c.zero) > 0 {
					// Two passes (MiB blocks, then 4 KiB blocks for the last
					// blocks), each bounded by stat's 3 MiB free + 1 MiB: the
					// test tree is no full disk.
					if n, _ := res.count("zeroed_bytes"); n != strconv.Itoa(len(c.zero)*8*1048576) {
						t.Errorf("zeroed_bytes %s, want %d (2 × 4 MiB a filesystem: stat's 3 MiB free, bounded +1)", n, len(c.zero)*8*1048576)
					}
				}
				if len(c.discard) > 0 {
					if n, _ := res.count("discarded_bytes"); n != strconv.Itoa((len(c.discard)-1)*1048576) && c.paths == "" {
						t.Errorf("discarded_bytes %s", n)
					}
				}
			})
		})
	}
}

// TestScriptsFreeSpaceSwapInUse: swap whose pages do not fit in the free
// memory is left as it is, with a warning (swapoff would fail or push the
// guest into the OOM killer).
func TestScriptsFreeSpaceSwapInUse(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		freeSpaceGuest(g)
		g.file("proc/swaps", "Filename Type Size Used Priority\n/swapfile file 8 900000 -2\n")
		g.file("proc/meminfo", "MemAvailable: 1000 kB\n")
		res := g.run("free_space.sh", envVar{"AMIH_MODE", "zero"}, envVar{"AMIH_PATHS", "/"}, envVar{"AMIH_SWAP", "1"})
		if res.code != 0 || g.exists("../state/swap") || !strings.Contains(g.read("swapfile"), "SECRET") {
			t.Errorf("code %d: the swap in use was touched", res.code)
		}
		if w := res.kind("warn"); len(w) != 1 || !strings.Contains(w[0].field(0), "do not fit") {
			t.Errorf("warnings %v", w)
		}
	})
}

// TestScriptsFreeSpaceExt4Reserve: ext4's reserved clusters (which no one
// may allocate, root neither, and whose free blocks keep old data) stay in
// place while zeros are written: another process's data written back then
// may need them (ext4 drops it otherwise). Their free blocks get a turn of
// their own at the end: released for one fallocate that takes every free
// block, set back, and the other fill files removed (free blocks again,
// more than the reserve; a punched hole was refused by a full ext4, see
// TestLoopFreeSpaceLeavesNoSecret); then the zeros are written through the
// file that took them. Another filesystem type's reserve is not touched.
func TestScriptsFreeSpaceExt4Reserve(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		freeSpaceGuest(g)
		resv := "sys/fs/ext4/vdc/reserved_clusters"
		g.file(resv, "4096\n")
		g.file("sys/fs/ext4/vdd/reserved_clusters", "4096\n")
		// dd and fallocate note the reserve they run with; dd writes 1 MiB
		// of zeros.
		g.shim("dd", `for a; do case $a in of=*) of=${a#of=} ;; count=*) count=${a#count=} ;; esac; done
case $of in *"with space"*) cat "$ROOT/sys/fs/ext4/vdc/reserved_clusters" >>"$STATE/resv-during"; echo "$count" >>"$STATE/count"
  ls -a "${of%/*}" | grep -c '^\.ami-hygiene-fill\.' >>"$STATE/files" ;; esac
head -c 1048576 /dev/zero >"$of"`)
		g.shim("fallocate", `for f; do :; done; r=$(cat "$ROOT/sys/fs/ext4/vdc/reserved_clusters"); echo "$r $*" | sed "s|$ROOT||" >>"$STATE/falloc"`)
		res := g.run("free_space.sh", envVar{"AMIH_MODE", "zero"}, envVar{"AMIH_PATHS", "/srv/with space\n/srv/nodiscard"}, envVar{"AMIH_SWAP", "0"})
		if res.code != 0 {
			t.Fatalf("code %d\n%s", res.code, res.other)
		}
		during, _ := os.ReadFile(filepath.Join(g.state, "resv-during"))
		count, _ := os.ReadFile(filepath.Join(g.state, "count"))
		if string(during) != "4096\n4096\n4096\n" || g.read(resv) != "4096\n" {
			t.Errorf("reserved clusters while zeros were written %q, after %q; want 4096 each time", during, g.read(resv))
		}
		// The fill is bounded by the free space stat tells (3 MiB, +1), in
		// MiB blocks, then in 4 KiB blocks; then the blocks the reserve's
		// file holds (stat: 768 of 4096 bytes).
		if string(count) != "4\n1024\n768\n" {
			t.Errorf("dd counts %q, want 4 (MiB blocks), 1024 (4 KiB blocks), then 768", count)
		}
		// Released for the one call that takes every free block (3 MiB and
		// the reserve); the other fill files gone before its blocks are
		// written.
		calls, _ := os.ReadFile(filepath.Join(g.state, "falloc"))
		falloc := strings.Split(strings.TrimSpace(string(calls)), "\n")
		if len(falloc) != 1 || !regexp.MustCompile(`^0 -l 19922944 /srv/with space/\.ami-hygiene-fill\.\w+$`).MatchString(falloc[0]) {
			t.Errorf("fallocate calls %q: want the take with the reserve at 0", falloc)
		}
		if files, _ := os.ReadFile(filepath.Join(g.state, "files")); string(files) != "7\n7\n1\n" {
			t.Errorf("fill files at each dd %q, want 7, 7, then the reserve's file alone", files)
		}
		if g.read("sys/fs/ext4/vdd/reserved_clusters") != "4096\n" {
			t.Errorf("the reserve of an xfs filesystem was touched")
		}
	})
}
