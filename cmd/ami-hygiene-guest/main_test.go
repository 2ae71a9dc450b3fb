//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRunRefusesBadInput: the helper's arguments are checked before it
// opens anything, and what it refuses to read or write is named.
func TestRunRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "fill")
	if err := os.WriteFile(file, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"zero-free", file, "/dev/null"}, "usage"},
		{[]string{"zero-free", file, "/dev/null", "4097"}, "a power of two"},
		{[]string{"zero-free", file, "/dev/null", "256"}, "a power of two"},
		{[]string{"zero-free", file, "/dev/null", "x"}, "a power of two"},
		{[]string{"zero-free", link, "/dev/null", "4096"}, "symbolic link"},
		{[]string{"zero-free", dir, "/dev/null", "4096"}, "is a directory"},
		{[]string{"zero-free", file, file, "4096"}, "is not a block device"},
		{[]string{"zero-free", file, "/dev/null", "4096"}, "is not a block device"},
		{[]string{"free-left", dir, "/dev/null", "4096"}, "usage"},
		{[]string{"free-left", dir, "/dev/null", "100", "seen"}, "a power of two"},
		{[]string{"free-left", file, "/dev/null", "4096", "seen"}, "not a directory"},
		{[]string{"free-left", link, "/dev/null", "4096", "seen"}, "not a directory"}, // O_NOFOLLOW
		{[]string{"free-left", dir, "/dev/null", "4096", "seen"}, "is not a block device"},
	} {
		err := run(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run(%q) = %v, want an error with %q", c.args, err, c.want)
		}
	}
	// A block device of this machine that does not hold the file's
	// filesystem: read, never written (the helper refuses before).
	other := otherBlockDevice(t, file)
	if err := run([]string{"zero-free", file, other, "4096"}); err == nil || !strings.Contains(err.Error(), "is not on "+other) {
		t.Errorf("a file off the device: %v", err)
	}
	if err := run([]string{"free-left", dir, other, "4096", filepath.Join(dir, "seen")}); err == nil || !strings.Contains(err.Error(), "is not on "+other) {
		t.Errorf("a folder off the device: %v", err)
	}
	if err := run([]string{"check"}); err != nil {
		t.Errorf("check: %v", err)
	}
}

// otherBlockDevice returns a block device of this machine whose number is
// not the filesystem of file's.
func otherBlockDevice(t *testing.T, file string) string {
	t.Helper()
	var fst syscall.Stat_t
	if err := syscall.Stat(file, &fst); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob("/sys/class/block/*")
	for _, n := range names {
		dev := "/dev/" + filepath.Base(n)
		var st syscall.Stat_t
		if syscall.Stat(dev, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFBLK && st.Rdev != fst.Dev {
			return dev
		}
	}
	t.Fatal("this machine has no block device to test with")
	return ""
}
