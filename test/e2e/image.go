//go:build e2e

// Package e2e is the end-to-end test bed: the pinned Packer drives a real
// Debian VM (QEMU) over SSH, and the tests inspect the guest independently
// of the plugin's report, through the QEMU guest agent.
package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/test/testenv"
)

// The guest image: built once with mmdebstrap from Debian's mirror and
// cached, keyed by its release and its recipe.

// Suites are the Debian releases the test bed builds guests of, the current
// stable first.
var Suites = []string{"trixie", "bookworm"}

// DebianVersion is each suite's VERSION_ID in /etc/os-release.
var DebianVersion = map[string]string{"trixie": "13", "bookworm": "12"}

// Suite is the Debian release of this run's guest: AMIH_E2E_SUITE, or the
// current stable.
func Suite() string {
	if s := os.Getenv("AMIH_E2E_SUITE"); s != "" {
		return s
	}
	return Suites[0]
}

// repoRoot is the repository's top folder.
var repoRoot = testenv.RepoRoot

// Image is a built guest image.
type Image struct {
	Dir                  string
	Disk, Kernel, Initrd string
}

// imageRecipeHash keys the image cache by everything that builds the image.
func imageRecipeHash() (string, error) {
	h := sha256.New()
	for _, f := range []string{"build.sh", "customize.sh"} {
		data, err := os.ReadFile(filepath.Join(repoRoot(), "test", "e2e", "image", f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\n%d\n", f, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// cacheDir is where built images are kept between runs.
func cacheDir() string {
	if d := os.Getenv("AMIH_E2E_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "packer-plugin-ami-hygiene")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "packer-plugin-ami-hygiene")
}

// EnsureImage returns the cached image of suite for the current recipe,
// building it first when needed (a few minutes: mmdebstrap from Debian's
// mirror).
func EnsureImage(log io.Writer, suite string) (*Image, error) {
	if DebianVersion[suite] == "" {
		return nil, fmt.Errorf("AMIH_E2E_SUITE=%q: the test bed builds %s", suite, strings.Join(Suites, " or "))
	}
	key, err := imageRecipeHash()
	if err != nil {
		return nil, err
	}
	prefix := filepath.Join(cacheDir(), "image-"+suite+"-")
	dir := prefix + key
	img := &Image{Dir: dir, Disk: filepath.Join(dir, "disk.raw"), Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img")}
	if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
		fmt.Fprintf(log, "e2e: using cached guest image %s\n", dir)
		return img, nil
	}
	fmt.Fprintf(log, "e2e: building guest image %s (cold cache)\n", dir)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	cmd := exec.Command("sh", filepath.Join(repoRoot(), "test", "e2e", "image", "build.sh"), tmp, suite)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("building the guest image: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "done"), []byte(key+"\n"), 0o644); err != nil {
		return nil, err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	// Images of older recipes are of no use any more.
	old, _ := filepath.Glob(prefix + "*")
	for _, o := range old {
		if o != dir && !strings.HasSuffix(o, ".tmp") {
			fmt.Fprintf(log, "e2e: removing the image of an older recipe %s\n", o)
			os.RemoveAll(o)
		}
	}
	return img, nil
}
