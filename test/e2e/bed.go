//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	imageOnce sync.Once
	image     *Image
	imageErr  error
)

// guestImage builds (or reuses) the cached image once per test binary.
func guestImage(t testing.TB) *Image {
	imageOnce.Do(func() { image, imageErr = EnsureImage(os.Stdout) })
	if imageErr != nil {
		t.Fatalf("guest image: %v", imageErr)
	}
	return image
}

// Bed is one booted guest for one test.
type Bed struct {
	t   testing.TB
	Dir string
	VM  *VM
	Key *Key
	run *PackerRun
}

// NewBed boots a fresh overlay of the image with a new key. Cleanup powers
// it off (or kills it); on failure it prints the tails of the serial console
// and of the Packer log.
func NewBed(t testing.TB, name string) *Bed {
	img := guestImage(t)
	dir := filepath.Join(repoRoot(), "test", "e2e", ".work", name+"-"+time.Now().Format("150405"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	key, err := NewKey(dir, "build-key")
	if err != nil {
		t.Fatal(err)
	}
	b := &Bed{t: t, Dir: dir, Key: key}
	b.VM = b.boot(img, name, "iid-"+name, key)
	return b
}

func (b *Bed) boot(img *Image, name, instanceID string, key *Key) *VM {
	t := b.t
	overlay, err := NewOverlay(img, b.Dir, name)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := NoCloudSeed(b.Dir, instanceID, key)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := StartVM(img, b.Dir, overlay, seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			fmt.Printf("---- serial console of %s (tail) ----\n%s\n", name, vm.SerialTail(40))
			if b.run != nil {
				fmt.Printf("---- packer log (tail) ----\n%s\n", tail(b.run.Log, 60))
			}
		}
		if err := vm.Shutdown(2 * time.Minute); err != nil {
			t.Logf("shutdown: %v", err)
		}
		// A passing run leaves nothing behind; a failing one keeps its
		// overlay, logs and report for a look (test/e2e/.work is ignored).
		if !t.Failed() && os.Getenv("AMIH_E2E_KEEP") != "1" {
			os.RemoveAll(b.Dir)
		}
	})
	t.Logf("%s: qemu started, ssh on 127.0.0.1:%d, serial %s", name, vm.SSHPort, vm.Serial)
	return vm
}

// Build runs `packer build` with the template against this bed's guest.
func (b *Bed) Build(tmpl Template, stream io.Writer) *PackerRun {
	tmpl.SSHPort, tmpl.Key = b.VM.SSHPort, b.Key
	start := time.Now()
	run := RunPacker(b.Dir, tmpl.Render(), stream, 40*time.Minute)
	b.run = &run
	b.t.Logf("packer build finished in %s (err: %v)", time.Since(start).Round(time.Second), run.Err)
	return &run
}

// MustBuild runs `packer build` and stops the test when it fails.
func (b *Bed) MustBuild(tmpl Template) *PackerRun {
	b.t.Helper()
	run := b.Build(tmpl, streamTo())
	if run.Err != nil {
		b.t.Fatalf("packer build failed: %v\n%s", run.Err, tailString(run.Output, 80))
	}
	return run
}

// Inspect runs a script on the guest through the guest agent and parses its
// `key=value` lines; repeated keys collect into a list.
func (b *Bed) Inspect(script string) map[string][]string {
	b.t.Helper()
	if err := b.VM.WaitAgent(5 * time.Minute); err != nil {
		b.t.Fatal(err)
	}
	out, code, err := b.VM.Exec(script, 5*time.Minute)
	if err != nil || code != 0 {
		b.t.Fatalf("inspecting the guest: exit %d, %v\n%s", code, err, out)
	}
	facts := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			facts[k] = append(facts[k], v)
		}
	}
	b.t.Logf("guest state: %v", facts)
	return facts
}

// Report reads the plugin's JSON report.
func (b *Bed) Report(name string) map[string]interface{} {
	b.t.Helper()
	data, err := os.ReadFile(filepath.Join(b.Dir, name))
	if err != nil {
		b.t.Fatalf("report: %v", err)
	}
	var r map[string]interface{}
	if err := json.Unmarshal(data, &r); err != nil {
		b.t.Fatalf("report: %v", err)
	}
	return r
}

// streamTo is where Packer's output goes live: stdout, unless
// AMIH_E2E_QUIET=1 (it is kept for failure messages either way).
func streamTo() io.Writer {
	if os.Getenv("AMIH_E2E_QUIET") == "1" {
		return nil
	}
	return os.Stdout
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
