//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain kills every VM on interrupt, so that no qemu outlives the tests.
func TestMain(m *testing.M) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "e2e: %v: killing the VMs\n", s)
		KillAll()
		os.Exit(130)
	}()
	code := m.Run()
	KillAll()
	os.Exit(code)
}
