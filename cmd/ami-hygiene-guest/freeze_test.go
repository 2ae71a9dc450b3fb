//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestZeroLeftOnLoopImages: zero-left on a mounted XFS (reflink, rmapbt)
// and ext4, loop images in the test's temporary folder: with nothing
// seen, every free block that holds data is one no fill file held — the
// blocks of a deleted secret here. They are zeros afterwards, a file that
// stays is intact, the filesystem checks clean (xfs_repair -n, e2fsck
// -fn) and is not left frozen. Needs root (loop devices, mount, FIFREEZE).
func TestZeroLeftOnLoopImages(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: loop devices, mount and FIFREEZE (CI runs it as root)")
	}
	for _, c := range []struct {
		name  string
		mkfs  []string
		check []string
		mib   int64
	}{
		{"xfs", []string{"mkfs.xfs", "-q", "-f", "-m", "reflink=1,rmapbt=1"}, []string{"xfs_repair", "-n"}, 320},
		{"ext4", []string{"mkfs.ext4", "-q", "-F", "-b", "4096"}, []string{"e2fsck", "-fn"}, 64},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "img")
			if err := os.WriteFile(img, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, c.mib<<20); err != nil {
				t.Fatal(err)
			}
			sh(t, append(c.mkfs, img)...)
			dev := sh(t, "losetup", "--find", "--show", img)
			t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
			mnt := filepath.Join(dir, "mnt")
			os.Mkdir(mnt, 0o755)
			sh(t, "mount", dev, mnt)
			mounted := true
			t.Cleanup(func() {
				if mounted {
					exec.Command("umount", mnt).Run()
				}
			})
			secret := bytes.Repeat([]byte("ZERO-LEFT-SECRET-0c4d\n"), 4<<20/22)
			kept := bytes.Repeat([]byte("ZERO-LEFT-KEPT-77aa\n"), 1<<20/20)
			writeSynced(t, filepath.Join(mnt, "secret"), secret)
			writeSynced(t, filepath.Join(mnt, "kept"), kept)
			os.Remove(filepath.Join(mnt, "secret"))
			syscall.Sync()
			if n := bytes.Count(readAll(t, img), []byte("ZERO-LEFT-SECRET-0c4d")); n < 4<<20/22 {
				t.Fatalf("the image holds %d copies of the deleted secret before, want %d", n, 4<<20/22)
			}
			read, zeroed, err := zeroLeft(mnt, dev, 4096, filepath.Join(dir, "seen"))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("read %d, zeroed %d", read, zeroed)
			if zeroed < int64(len(secret))/4096*4096 {
				t.Errorf("zeroed %d bytes, fewer than the secret's %d", zeroed, len(secret))
			}
			// Not left frozen: a freeze of its own works, then a thaw.
			f, err := os.Open(mnt)
			if err != nil {
				t.Fatal(err)
			}
			if err := ioctlInt(f, fiFreeze); err != nil {
				t.Errorf("the filesystem cannot be frozen after zero-left (left frozen?): %v", err)
			} else if err := ioctlInt(f, fiThaw); err != nil {
				t.Errorf("thaw: %v", err)
			}
			f.Close()
			sh(t, "umount", mnt)
			mounted = false
			data := readAll(t, img)
			if n := bytes.Count(data, []byte("ZERO-LEFT-SECRET-0c4d")); n > 0 {
				t.Errorf("%d copies of the deleted secret are still on the image", n)
			}
			if n := bytes.Count(data, []byte("ZERO-LEFT-KEPT-77aa")); n < len(kept)/20 {
				t.Errorf("the kept file: %d copies on the image, want %d", n, len(kept)/20)
			}
			sh(t, append(c.check, dev)...)
			// And zero-left refuses a folder off the device it is given.
			if _, _, err := zeroLeft(dir, dev, 4096, ""); err == nil || !strings.Contains(err.Error(), "is not on") {
				t.Errorf("a folder off the device: %v", err)
			}
		})
	}
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeSynced(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
