//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// QEMU: overlays of the image, a VM with its serial console, QMP to power
// it off.

// VM is one running guest: a copy-on-write overlay of the image, user-mode
// networking with SSH on a free loopback port, the serial console in a
// file, QMP and the guest agent on unix sockets.
type VM struct {
	Dir     string
	Overlay string
	SSHPort int
	Serial  string
	// MAC is the address of its network card, its own.
	MAC  string
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
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

// freePort finds a free loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartVM boots the overlay with the seed, and more raw disks after them
// (the guest's /dev/vdc, /dev/vdd, ...). The VM is killed if the test
// process dies (Pdeathsig) and by Kill/Stop.
func StartVM(img *Image, dir, overlay, seed string, disks ...string) (*VM, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	vm := &VM{Dir: dir, Overlay: overlay, SSHPort: port, Serial: filepath.Join(dir, filepath.Base(overlay)+".serial.log"), done: make(chan struct{})}
	// Each VM its own MAC (from its port), as each instance of an image.
	vm.MAC = fmt.Sprintf("52:54:00:e2:%02x:%02x", port>>8&0xff, port&0xff)
	accel := []string{"-accel", "tcg,thread=multi", "-cpu", "max"}
	if os.Getenv("AMIH_E2E_KVM") == "1" {
		accel = []string{"-accel", "kvm", "-cpu", "host"}
	}
	args := append(accel,
		"-smp", "2", "-m", "2048", "-nodefaults", "-no-user-config", "-display", "none",
		"-kernel", img.Kernel, "-initrd", img.Initrd,
		// panic=5: a guest kernel that panics reboots instead of hanging
		// until the test's timeouts. Debian 13's kernel (6.12) rarely dies of
		// an "Oops: int3" early in boot under multi-threaded TCG (a live
		// text-patching race between the vCPUs, not the plugin): the
		// reboot retries that boot, and Panicked reports it.
		"-append", "root=/dev/vda rw console=ttyS0 net.ifnames=1 panic=5",
		"-drive", "file="+overlay+",if=virtio,format=qcow2",
		"-drive", "file="+seed+",if=virtio,format=raw,readonly=on",
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:22", port),
		"-device", "virtio-net-pci,netdev=n0,mac="+vm.MAC,
		"-serial", "file:"+vm.Serial,
		"-chardev", "socket,id=qmp,path="+vm.qmpPath()+",server=on,wait=off",
		"-mon", "chardev=qmp,mode=control",
		"-chardev", "socket,id=qga,path="+vm.qgaPath()+",server=on,wait=off",
		"-device", "virtio-serial",
		"-device", "virtserialport,chardev=qga,name=org.qemu.guest_agent.0",
	)
	for _, d := range disks {
		args = append(args, "-drive", "file="+d+",if=virtio,format=raw")
	}
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

// Panicked tells whether the guest kernel panicked (and rebooted) so far.
func (vm *VM) Panicked() bool {
	data, _ := os.ReadFile(vm.Serial)
	return strings.Contains(string(data), "Kernel panic - not syncing")
}

// SerialTail returns the last n lines of the serial console.
func (vm *VM) SerialTail(n int) string {
	data, err := os.ReadFile(vm.Serial)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return TailLines(string(data), n)
}
