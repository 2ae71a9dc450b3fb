//go:build e2e

// Package e2e is the end-to-end test bed: the pinned Packer drives a real
// Debian VM (QEMU) over SSH, and the tests inspect the guest independently
// of the plugin's report, through the QEMU guest agent.
package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/test/testenv"
)

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

// EnsureImage returns the cached image for the current recipe, building it
// first when needed (a few minutes: mmdebstrap from Debian's mirror).
func EnsureImage(log io.Writer) (*Image, error) {
	key, err := imageRecipeHash()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cacheDir(), "image-"+key)
	img := &Image{Dir: dir, Disk: filepath.Join(dir, "disk.raw"), Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img")}
	if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
		fmt.Fprintf(log, "e2e: using cached guest image %s\n", dir)
		return img, nil
	}
	fmt.Fprintf(log, "e2e: building guest image %s (cold cache)\n", dir)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	cmd := exec.Command("sh", filepath.Join(repoRoot(), "test", "e2e", "image", "build.sh"), tmp)
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
	old, _ := filepath.Glob(filepath.Join(cacheDir(), "image-*"))
	for _, o := range old {
		if o != dir && !strings.HasSuffix(o, ".tmp") {
			fmt.Fprintf(log, "e2e: removing the image of an older recipe %s\n", o)
			os.RemoveAll(o)
		}
	}
	return img, nil
}

// Key is an SSH key pair on disk.
type Key struct{ Private, Public string }

// NewKey makes an ed25519 key pair in dir.
func NewKey(dir, name string) (*Key, error) {
	k := &Key{Private: filepath.Join(dir, name)}
	k.Public = k.Private + ".pub"
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", k.Private).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	return k, nil
}

// VM is one running guest: a copy-on-write overlay of the image, user-mode
// networking with SSH on a free loopback port, the serial console in a
// file, QMP and the guest agent on unix sockets.
type VM struct {
	Dir     string
	Overlay string
	SSHPort int
	Serial  string
	cmd     *exec.Cmd
	done    chan struct{}
	once    sync.Once
}

var (
	vmsMu   sync.Mutex
	vms     = map[*VM]bool{}
	packers = map[*exec.Cmd]*os.Process{}
)

// track registers a started Packer process for KillAll; the returned
// function forgets it.
func track(cmd *exec.Cmd) func() {
	vmsMu.Lock()
	packers[cmd] = cmd.Process
	vmsMu.Unlock()
	return func() {
		vmsMu.Lock()
		delete(packers, cmd)
		vmsMu.Unlock()
	}
}

// KillAll kills every VM and Packer process still running (used on
// interrupt).
func KillAll() {
	vmsMu.Lock()
	running := make([]*VM, 0, len(vms))
	for vm := range vms {
		running = append(running, vm)
	}
	for _, p := range packers {
		syscall.Kill(-p.Pid, syscall.SIGKILL) // the process group: packer and its re-executed child
	}
	vmsMu.Unlock()
	for _, vm := range running {
		vm.Kill()
	}
}

// NewOverlay makes a copy-on-write overlay of the image in dir.
func NewOverlay(img *Image, dir, name string) (string, error) {
	return newOverlay(img.Disk, "raw", dir, name)
}

// newOverlay makes a copy-on-write overlay of a disk (raw or qcow2) in dir.
func newOverlay(base, format, dir, name string) (string, error) {
	overlay := filepath.Join(dir, name+".qcow2")
	out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", format, overlay).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("qemu-img create: %v: %s", err, out)
	}
	return overlay, nil
}

// NoCloudSeed makes a NoCloud seed image that gives the default user the key.
func NoCloudSeed(dir, instanceID string, key *Key) (string, error) {
	pub, err := os.ReadFile(key.Public)
	if err != nil {
		return "", err
	}
	meta := filepath.Join(dir, instanceID+"-meta-data")
	user := filepath.Join(dir, instanceID+"-user-data")
	seed := filepath.Join(dir, instanceID+"-seed.img")
	if err := os.WriteFile(meta, []byte("instance-id: "+instanceID+"\nlocal-hostname: guest\n"), 0o644); err != nil {
		return "", err
	}
	userData := "#cloud-config\nssh_pwauth: false\nssh_authorized_keys:\n  - " + strings.TrimSpace(string(pub)) + "\n"
	if err := os.WriteFile(user, []byte(userData), 0o644); err != nil {
		return "", err
	}
	if out, err := exec.Command("cloud-localds", seed, user, meta).CombinedOutput(); err != nil {
		return "", fmt.Errorf("cloud-localds: %v: %s", err, out)
	}
	return seed, nil
}

// freePort finds a free loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartVM boots the overlay with the seed. The VM is killed if the test
// process dies (Pdeathsig) and by Kill/Stop.
func StartVM(img *Image, dir, overlay, seed string) (*VM, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	vm := &VM{Dir: dir, Overlay: overlay, SSHPort: port, Serial: filepath.Join(dir, filepath.Base(overlay)+".serial.log"), done: make(chan struct{})}
	accel := []string{"-accel", "tcg,thread=multi", "-cpu", "max"}
	if os.Getenv("AMIH_E2E_KVM") == "1" {
		accel = []string{"-accel", "kvm", "-cpu", "host"}
	}
	args := append(accel,
		"-smp", "2", "-m", "2048", "-nodefaults", "-no-user-config", "-display", "none",
		"-kernel", img.Kernel, "-initrd", img.Initrd,
		"-append", "root=/dev/vda rw console=ttyS0 net.ifnames=1",
		"-drive", "file="+overlay+",if=virtio,format=qcow2",
		"-drive", "file="+seed+",if=virtio,format=raw,readonly=on",
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:22", port),
		"-device", "virtio-net-pci,netdev=n0",
		"-serial", "file:"+vm.Serial,
		"-chardev", "socket,id=qmp,path="+vm.qmpPath()+",server=on,wait=off",
		"-mon", "chardev=qmp,mode=control",
		"-chardev", "socket,id=qga,path="+vm.qgaPath()+",server=on,wait=off",
		"-device", "virtio-serial",
		"-device", "virtserialport,chardev=qga,name=org.qemu.guest_agent.0",
	)
	vm.cmd = exec.Command("qemu-system-x86_64", args...)
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logFile, err := os.Create(filepath.Join(dir, filepath.Base(overlay)+".qemu.log"))
	if err != nil {
		return nil, err
	}
	vm.cmd.Stdout, vm.cmd.Stderr = logFile, logFile
	runtime.LockOSThread() // Pdeathsig follows the thread that started qemu
	err = vm.cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("starting qemu: %w", err)
	}
	go func() { vm.cmd.Wait(); logFile.Close(); close(vm.done) }()
	vmsMu.Lock()
	vms[vm] = true
	vmsMu.Unlock()
	return vm, nil
}

func (vm *VM) qmpPath() string { return filepath.Join(vm.Dir, filepath.Base(vm.Overlay)+".qmp") }
func (vm *VM) qgaPath() string { return filepath.Join(vm.Dir, filepath.Base(vm.Overlay)+".qga") }

// Exited tells whether qemu has exited.
func (vm *VM) Exited() bool {
	select {
	case <-vm.done:
		return true
	default:
		return false
	}
}

// Kill ends qemu at once.
func (vm *VM) Kill() {
	vm.once.Do(func() {
		if vm.cmd.Process != nil {
			vm.cmd.Process.Kill()
		}
		<-vm.done
		vmsMu.Lock()
		delete(vms, vm)
		vmsMu.Unlock()
	})
}

// Shutdown asks the guest to power off (ACPI) and waits; it kills qemu when
// the guest does not stop in time.
func (vm *VM) Shutdown(timeout time.Duration) error {
	if vm.Exited() {
		vm.Kill()
		return nil
	}
	err := vm.qmp("system_powerdown")
	select {
	case <-vm.done:
		vm.Kill()
		return err
	case <-time.After(timeout):
		vm.Kill()
		return fmt.Errorf("the guest did not power off within %s (killed)", timeout)
	}
}

// qmp runs one QMP command.
func (vm *VM) qmp(command string) error {
	conn, err := net.DialTimeout("unix", vm.qmpPath(), 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil { // greeting
		return err
	}
	for _, c := range []string{"qmp_capabilities", command} {
		if _, err := fmt.Fprintf(conn, "{\"execute\":%q}\n", c); err != nil {
			return err
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if strings.Contains(line, `"return"`) || strings.Contains(line, `"error"`) {
				break
			}
		}
	}
	return nil
}

// Exec runs a shell script as root on the guest through the QEMU guest
// agent — a channel that does not depend on SSH, keys or the plugin — and
// returns its combined output and exit code.
func (vm *VM) Exec(script string, timeout time.Duration) (string, int, error) {
	conn, err := net.DialTimeout("unix", vm.qgaPath(), 5*time.Second)
	if err != nil {
		return "", 0, err
	}
	defer conn.Close()
	deadline := time.Now().Add(timeout)
	conn.SetDeadline(deadline)
	dec := json.NewDecoder(conn)
	call := func(req map[string]interface{}, resp interface{}) error {
		data, _ := json.Marshal(req)
		if _, err := conn.Write(append(data, '\n')); err != nil {
			return err
		}
		var envelope struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Desc string `json:"desc"`
			} `json:"error"`
		}
		for {
			if err := dec.Decode(&envelope); err != nil {
				return err
			}
			if envelope.Error != nil {
				return fmt.Errorf("guest agent: %s", envelope.Error.Desc)
			}
			if envelope.Return != nil {
				return json.Unmarshal(envelope.Return, resp)
			}
		}
	}
	syncID := time.Now().UnixNano() % 1000000
	var got int64
	for got != syncID {
		if err := call(map[string]interface{}{"execute": "guest-sync", "arguments": map[string]interface{}{"id": syncID}}, &got); err != nil {
			return "", 0, err
		}
	}
	var started struct {
		PID int `json:"pid"`
	}
	if err := call(map[string]interface{}{"execute": "guest-exec", "arguments": map[string]interface{}{
		"path": "/bin/sh", "arg": []string{"-c", script + " 2>&1"}, "capture-output": true,
	}}, &started); err != nil {
		return "", 0, err
	}
	for time.Now().Before(deadline) {
		var status struct {
			Exited   bool   `json:"exited"`
			ExitCode int    `json:"exitcode"`
			OutData  string `json:"out-data"`
		}
		if err := call(map[string]interface{}{"execute": "guest-exec-status", "arguments": map[string]interface{}{"pid": started.PID}}, &status); err != nil {
			return "", 0, err
		}
		if status.Exited {
			out, _ := base64.StdEncoding.DecodeString(status.OutData)
			return string(out), status.ExitCode, nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return "", 0, fmt.Errorf("guest command still running after %s", timeout)
}

// WaitAgent waits until the guest agent answers.
func (vm *VM) WaitAgent(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if vm.Exited() {
			return fmt.Errorf("qemu exited")
		}
		if _, _, err = vm.Exec("true", 20*time.Second); err == nil {
			return nil
		}
		time.Sleep(3 * time.Second)
	}
	return fmt.Errorf("the guest agent did not answer within %s: %v", timeout, err)
}

// SerialTail returns the last n lines of the serial console.
func (vm *VM) SerialTail(n int) string { return tail(vm.Serial, n) }

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
