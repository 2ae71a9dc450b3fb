//go:build linux

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary be the helper itself (AMIH_GUEST_AS_MAIN),
// so that a test can run zero-left as a process of its own and end it; and
// zero-left's guard, which runs /proc/self/exe thaw-guard, is this very
// code when a test calls zeroLeft in its own process.
func TestMain(m *testing.M) {
	if os.Getenv("AMIH_GUEST_AS_MAIN") == "1" || len(os.Args) > 1 && os.Args[1] == "thaw-guard" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestZeroLeftNeverLeavesAFrozenFilesystem (issue 36, item 10): whatever
// ends zero-left while the filesystem is frozen — the step's TERM, the
// KILL that follows it (to the step's whole process group), or its own
// bound — the filesystem is thawed. A loop XFS image with a deleted file's
// blocks to clear; the helper held frozen by the test's seam. On the old
// code TERM was ignored until the bound, and a KILL left the filesystem
// frozen for good (every write to it blocked). Needs root.
func TestZeroLeftNeverLeavesAFrozenFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: loop devices, mount and FIFREEZE (CI runs it as root)")
	}
	for _, c := range []struct {
		name   string
		signal syscall.Signal // 0: none, the bound ends it
		check  func(ws syscall.WaitStatus) bool
	}{
		{"TERM", syscall.SIGTERM, func(ws syscall.WaitStatus) bool { return ws.Signaled() && ws.Signal() == syscall.SIGTERM }},
		{"KILL", syscall.SIGKILL, func(ws syscall.WaitStatus) bool { return ws.Signaled() && ws.Signal() == syscall.SIGKILL }},
		{"bound", 0, func(ws syscall.WaitStatus) bool { return ws.Exited() && ws.ExitStatus() == 3 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "img")
			if err := os.WriteFile(img, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, 320<<20); err != nil {
				t.Fatal(err)
			}
			sh(t, "mkfs.xfs", "-q", "-f", img)
			dev := sh(t, "losetup", "--find", "--show", img)
			t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
			mnt := filepath.Join(dir, "mnt")
			os.Mkdir(mnt, 0o755)
			sh(t, "mount", dev, mnt)
			t.Cleanup(func() {
				// Thaw whatever the test found frozen, so that the
				// unmount does not hang.
				if f, err := os.Open(mnt); err == nil {
					ioctlInt(f, fiThaw)
					f.Close()
				}
				exec.Command("umount", mnt).Run()
			})
			writeSynced(t, filepath.Join(mnt, "secret"), bytes.Repeat([]byte("FROZEN-SECRET-51e0\n"), 2<<20/19))
			os.Remove(filepath.Join(mnt, "secret"))
			syscall.Sync()
			marker := filepath.Join(dir, "frozen")
			cmd := exec.Command("/proc/self/exe", "zero-left", mnt, dev, "4096", filepath.Join(dir, "seen"))
			cmd.Env = append(os.Environ(), "AMIH_GUEST_AS_MAIN=1", "AMIH_GUEST_TEST_FREEZE_HOLD="+marker)
			// Its own process group, as the step's on a guest: the KILL
			// goes to the whole group, as the step's watch sends it.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { _, err := os.Stat(marker); return err == nil }, "zero-left to freeze")
			if !frozen(t, mnt) {
				t.Fatal("the seam says frozen, the filesystem is not")
			}
			if c.signal != 0 {
				syscall.Kill(-cmd.Process.Pid, c.signal)
			}
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || !c.check(exit.Sys().(syscall.WaitStatus)) {
				t.Errorf("zero-left ended with %v, stderr %q", err, stderr.String())
			}
			waitFor(t, func() bool { return !frozen(t, mnt) }, "the filesystem to be thawed")
		})
	}
}

// frozen tells whether the filesystem of dir is frozen: a freeze of the
// test's own is refused with EBUSY then (and thawed again at once where it
// was taken).
func frozen(t *testing.T, dir string) bool {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	switch err := ioctlInt(f, fiFreeze); {
	case err == nil:
		ioctlInt(f, fiThaw)
		return false
	case errors.Is(err, syscall.EBUSY):
		return true
	default:
		t.Fatalf("FIFREEZE: %v", err)
		return false
	}
}

// waitFor waits until cond holds, at most 20 s (a bound on a wait, not a
// timing: what never comes fails the test).
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("waited 20 s for %s", what)
		}
	}
}
