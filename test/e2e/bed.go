//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/internal/reportschema"
	"github.com/ami-hygiene/packer-plugin-ami-hygiene/provisioner"
)

var (
	imageOnce sync.Once
	image     *Image
	imageErr  error
)

// guestImage builds (or reuses) the cached image once per test binary.
func guestImage(t testing.TB) *Image {
	imageOnce.Do(func() { image, imageErr = EnsureImage(os.Stdout, Suite()) })
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
	// Users are more users with sudo and the launch key, beside the image's
	// default user admin: the default users of other AMIs (ubuntu, ec2-user).
	Users []string
	// Disks are more raw disks of the build guest (/dev/vdc, ...).
	Disks []string
	run   *PackerRun
}

// NewBed boots a fresh overlay of the image with a new key; userData adds
// cloud-config lines to the guest's seed. Cleanup powers it off (or kills
// it); on failure it prints the tails of the serial console and of the
// Packer log.
func NewBed(t testing.TB, name string, userData ...string) *Bed {
	return newBed(t, name, nil, nil, userData...)
}

// NewBedWithUsers is NewBed with the launch key given (nil: a new one) and
// more users that have sudo and that key, as the default user of another
// AMI has (ubuntu, ec2-user).
func NewBedWithUsers(t testing.TB, name string, key *Key, users ...string) *Bed {
	return newBed(t, name, key, users)
}

// NewBedWithDisks is NewBed with more raw disks attached to the guest, in
// order: /dev/vdc, /dev/vdd, ...
func NewBedWithDisks(t testing.TB, name string, disks ...string) *Bed {
	return newBedDisks(t, name, nil, nil, disks)
}

func newBed(t testing.TB, name string, key *Key, users []string, userData ...string) *Bed {
	return newBedDisks(t, name, key, users, nil, userData...)
}

func newBedDisks(t testing.TB, name string, key *Key, users, disks []string, userData ...string) *Bed {
	img := guestImage(t)
	dir := workDir(t, name)
	if key == nil {
		var err error
		if key, err = NewKey(dir, "build-key"); err != nil {
			t.Fatal(err)
		}
	}
	b := &Bed{t: t, Dir: dir, Key: key, Users: users, Disks: disks}
	overlay, err := NewOverlay(img, dir, name)
	if err != nil {
		t.Fatal(err)
	}
	b.VM = b.boot(img, overlay, name, "iid-"+name, key, userData...)
	return b
}

// Clone is an instance launched from the finished disk of a bed.
type Clone struct {
	Name, InstanceID string
	VM               *VM
	Key              *Key
}

// Clones powers the bed's guest off, the way the builder stops the instance
// before taking the image, and boots n instances of its disk, each with its
// own instance id and launch key (new NoCloud seeds), all at once.
func (b *Bed) Clones(n int) []*Clone {
	b.t.Helper()
	if err := b.VM.Shutdown(5 * time.Minute); err != nil {
		b.t.Fatalf("powering the build guest off: %v", err)
	}
	img := guestImage(b.t)
	var clones []*Clone
	for i := 1; i <= n; i++ {
		c := &Clone{Name: fmt.Sprintf("clone%d", i), InstanceID: fmt.Sprintf("iid-clone%d-%d", i, time.Now().UnixNano())}
		key, err := NewKey(b.Dir, c.Name+"-key")
		if err != nil {
			b.t.Fatal(err)
		}
		overlay, err := newOverlay(b.VM.Overlay, "qcow2", b.Dir, c.Name)
		if err != nil {
			b.t.Fatal(err)
		}
		c.Key = key
		c.VM = b.boot(img, overlay, c.Name, c.InstanceID, key)
		clones = append(clones, c)
	}
	return clones
}

func (b *Bed) boot(img *Image, overlay, name, instanceID string, key *Key, userData ...string) *VM {
	t := b.t
	if len(b.Users) > 0 {
		pub, err := os.ReadFile(key.Public)
		if err != nil {
			t.Fatal(err)
		}
		lines := "users:\n  - default\n"
		for _, u := range b.Users {
			lines += fmt.Sprintf("  - name: %s\n    shell: /bin/bash\n    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n    ssh_authorized_keys:\n      - %s\n",
				u, strings.TrimSpace(string(pub)))
		}
		userData = append(userData, lines)
	}
	seed, err := NoCloudSeed(b.Dir, instanceID, key, userData...)
	if err != nil {
		t.Fatal(err)
	}
	var disks []string
	if b.VM == nil { // the build guest, not a clone
		disks = b.Disks
	}
	vm, err := StartVM(img, b.Dir, overlay, seed, disks...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if vm.Panicked() {
			t.Logf("%s: the guest kernel panicked and rebooted (serial console: %s)", name, vm.Serial)
		}
		if t.Failed() {
			fmt.Printf("---- serial console of %s (tail) ----\n%s\n", name, vm.SerialTail(40))
			if b.run != nil {
				log, _ := os.ReadFile(b.run.Log)
				fmt.Printf("---- packer log (tail) ----\n%s\n", TailLines(string(log), 60))
			}
		}
		if err := vm.Shutdown(2 * time.Minute); err != nil {
			t.Logf("shutdown: %v", err)
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
		b.t.Fatalf("packer build failed: %v\n%s", run.Err, TailLines(run.Output, 80))
	}
	return run
}

// Inspect runs a script on the guest through the guest agent and parses its
// `key=value` lines; repeated keys collect into a list.
func (b *Bed) Inspect(script string) map[string][]string {
	b.t.Helper()
	return inspect(b.t, b.VM, script)
}

func inspect(t testing.TB, vm *VM, script string) map[string][]string {
	t.Helper()
	if err := vm.WaitAgent(10 * time.Minute); err != nil {
		t.Fatal(err)
	}
	out, code, err := vm.Exec(script, 10*time.Minute)
	if err != nil || code != 0 {
		t.Fatalf("inspecting the guest: exit %d, %v\n%s", code, err, out)
	}
	facts := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			facts[k] = append(facts[k], v)
		}
	}
	t.Logf("guest state: %v", facts)
	return facts
}

// SSH runs a command on a guest with the OpenSSH client as user admin with
// the key alone (no agent, no other key, host keys not checked), and
// returns its output and error.
func SSH(vm *VM, key *Key, command string) (string, error) {
	out, err := exec.Command("ssh", "-i", key.Private, "-p", fmt.Sprint(vm.SSHPort),
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
		"-o", "ConnectTimeout=20", "admin@127.0.0.1", command).CombinedOutput()
	return string(out), err
}

// WaitSSH waits until the guest accepts the key, up to timeout.
func WaitSSH(vm *VM, key *Key, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := SSH(vm, key, "true")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || vm.Exited() {
			return fmt.Errorf("ssh with %s: %v: %s", filepath.Base(key.Private), err, out)
		}
		time.Sleep(5 * time.Second)
	}
}

// Report reads the plugin's JSON report, which must follow the published
// schema (docs/report.schema.json).
func (b *Bed) Report(name string) *provisioner.Report {
	b.t.Helper()
	return readReport(b.t, filepath.Join(b.Dir, name))
}

// readReport reads a report, which must follow the published schema.
func readReport(t testing.TB, path string) *provisioner.Report {
	t.Helper()
	if err := reportschema.Validate(path); err != nil {
		t.Error(err)
	}
	r, err := ReadReport(path)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	return r
}

// ReadReport reads a plugin report (for the bench too).
func ReadReport(path string) (*provisioner.Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r provisioner.Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// streamTo is where Packer's output goes live: stdout, unless
// AMIH_E2E_QUIET=1 (it is kept for failure messages either way).
func streamTo() io.Writer {
	if os.Getenv("AMIH_E2E_QUIET") == "1" {
		return nil
	}
	return os.Stdout
}

// TailLines returns the last n lines of s.
func TailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// workDir makes a folder for a test's own files under test/e2e/.work; it
// is removed when the test passes (kept for a look when it fails).
func workDir(t testing.TB, name string) string {
	dir := filepath.Join(repoRoot(), "test", "e2e", ".work", name+"-"+time.Now().Format("150405"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() && os.Getenv("AMIH_E2E_KEEP") != "1" {
			os.RemoveAll(dir)
		}
	})
	return dir
}
