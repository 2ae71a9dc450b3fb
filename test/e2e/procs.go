//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// Every process the bed starts is tracked, so that none outlives the tests.

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
