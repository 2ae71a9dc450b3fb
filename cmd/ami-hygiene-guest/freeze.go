//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// FIFREEZE and FITHAW (linux/fs.h): _IOWR('X', 119, int), _IOWR('X', 120, int).
const (
	fiFreeze = 0xC0045877
	fiThaw   = 0xC0045878
)

// The bounds of zero-left: what it clears under a freeze at most, and
// for how long the filesystem may stay frozen (the step's deadline sends
// TERM, then KILL 10 s later: the freeze ends well before).
const (
	leftMax     = 64 << 20
	freezeBound = 5 * time.Second
)

// zeroLeft writes zeros over the free blocks of dir's filesystem that
// hold data and that no fill file held (seen does not list them: XFS keeps
// them back from every file, its per-AG reservations and free lists), on
// device itself, while the filesystem is frozen (FIFREEZE): nothing can be
// allocated then, so a block free when the freeze began stays free until
// it ends. Each range is checked free again (GETFSMAP) and read again
// under the freeze before it is written; the freeze ends after at most
// freezeBound, writes stopped first. It returns the bytes read and the
// bytes written.
func zeroLeft(dir, device string, bs int64, seen string) (read, zeroed int64, err error) {
	l, err := openLeft(dir, device, bs, seen)
	if err != nil {
		return 0, 0, err
	}
	defer l.Close()
	// First, unfrozen: which free blocks no fill file held hold data.
	r, d := l.r, l.dir
	dirty, err := l.dirty()
	if err != nil || len(dirty) == 0 {
		return r.read, 0, err
	}
	var total int64
	for _, x := range dirty {
		total += x.end - x.start
	}
	if total > leftMax {
		return r.read, 0, fmt.Errorf("%d KiB of free blocks no file held hold data: more than the %d KiB cleared under a freeze", total>>10, leftMax>>10)
	}
	wdev, err := openDirect(device, os.O_WRONLY)
	if err != nil {
		return r.read, 0, fmt.Errorf("%s cannot be written: %w", device, err)
	}
	defer wdev.Close()
	// The very device read (the path may name another by now).
	if ws, err := wdev.Stat(); err != nil || ws.Mode()&os.ModeDevice == 0 || ws.Mode()&os.ModeCharDevice != 0 || ws.Sys().(*syscall.Stat_t).Rdev != l.dev {
		return r.read, 0, fmt.Errorf("%s is not on %s", dir, device)
	}
	// Never frozen without a guard that thaws it whatever ends this
	// process (the step's TERM, the KILL 10 s later, a crash): a process
	// of its own, outside the step's process group.
	guard, err := startThawGuard(dir, freezeBound+guardGrace)
	if err != nil {
		return r.read, 0, fmt.Errorf("not frozen: %w", err)
	}
	var mu sync.Mutex // held by each write; the bound's thaw takes it
	thawed := false
	thaw := func() error {
		if thawed {
			return nil
		}
		thawed = true
		return ioctlInt(d, fiThaw)
	}
	// The bound counts from before the freeze (FIFREEZE first writes
	// back every dirty page: on a slow device that is long).
	bound := time.AfterFunc(freezeBound, func() {
		mu.Lock() // no write after this
		if thawed {
			mu.Unlock()
			return // the work ended first (its thaw took the lock before)
		}
		if err := thaw(); err != nil {
			fmt.Fprintln(os.Stderr, "ami-hygiene-guest: thawing", dir+":", err)
		}
		fmt.Fprintf(os.Stderr, "ami-hygiene-guest: the freeze of %s reached %s: thawed, stopped\n", dir, freezeBound)
		os.Exit(3)
	})
	if err := ioctlInt(d, fiFreeze); err != nil {
		mu.Lock()
		bound.Stop()
		thawed = true
		mu.Unlock()
		guard.release(true)
		return r.read, 0, fmt.Errorf("freezing %s: %w", dir, err)
	}
	holdFrozenForTest()
	zeroed, err = zeroFrozen(l, wdev, dirty, &mu)
	mu.Lock()
	bound.Stop()
	terr := thaw()
	if terr != nil && err == nil {
		err = fmt.Errorf("thawing %s: %w", dir, terr)
	}
	guard.release(terr == nil)
	mu.Unlock()
	return r.read, zeroed, err
}

// guardGrace: the guard's own bound is the freeze's and this much more,
// so that the helper's bound (which thaws and says so) comes first.
const guardGrace = 2 * time.Second

// thawGuard is the helper's watch over a freeze: a process of its own
// (`ami-hygiene-guest thaw-guard`, in a session of its own, so that no
// signal to the step's process group reaches it), started before the
// freeze, that holds the read end of a pipe whose write end only the
// helper holds. When the helper ends without saying it has thawed (a KILL
// included: the kernel closes the pipe when the process is gone, writes
// ended), the guard thaws the filesystem; when the freeze outlives the
// guard's bound, it KILLs the helper first, then thaws once it is gone.
type thawGuard struct {
	w *os.File
}

// startThawGuard starts the guard of dir's filesystem and waits until it
// holds the folder open, at most 5 s.
func startThawGuard(dir string, bound time.Duration) (*thawGuard, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("the thaw guard's pipe: %w", err)
	}
	ready, readyW, err := os.Pipe()
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("the thaw guard's pipe: %w", err)
	}
	// This very program, even where its file is gone by now.
	cmd := exec.Command("/proc/self/exe", "thaw-guard", dir, strconv.Itoa(os.Getpid()), bound.String())
	cmd.ExtraFiles = []*os.File{r, readyW} // descriptors 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	r.Close()
	readyW.Close()
	if err != nil {
		w.Close()
		ready.Close()
		return nil, fmt.Errorf("the thaw guard: %w", err)
	}
	go cmd.Wait() // reaped if it ends first; otherwise init does
	ready.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 1)
	n, _ := ready.Read(b)
	ready.Close()
	if n != 1 {
		w.Close()
		cmd.Process.Kill()
		return nil, fmt.Errorf("the thaw guard did not start")
	}
	return &thawGuard{w: w}, nil
}

// release ends the guard: thawed says the helper thawed the filesystem
// itself (the guard then leaves it alone); otherwise the guard thaws it.
func (g *thawGuard) release(thawed bool) {
	if thawed {
		g.w.Write([]byte("T"))
	}
	g.w.Close()
}

// thawGuardMain is the guard's process (thaw-guard DIR HELPER-PID BOUND).
func thawGuardMain(dir, pid, boundText string) error {
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	helper, err := strconv.Atoi(pid)
	if err != nil {
		return fmt.Errorf("thaw-guard: pid %q", pid)
	}
	bound, err := time.ParseDuration(boundText)
	if err != nil {
		return fmt.Errorf("thaw-guard: bound %q", boundText)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	in, ready := os.NewFile(3, "helper"), os.NewFile(4, "ready")
	if in == nil || ready == nil {
		return fmt.Errorf("thaw-guard: no pipe from the helper")
	}
	ready.Write([]byte{1})
	ready.Close()
	said := make(chan []byte, 1)
	go func() {
		data, _ := io.ReadAll(in)
		said <- data
	}()
	select {
	case data := <-said:
		if bytes.Contains(data, []byte("T")) {
			return nil // thawed by the helper
		}
	case <-time.After(bound):
		// Still our parent: the helper, not a process that took its pid.
		if os.Getppid() == helper {
			syscall.Kill(helper, syscall.SIGKILL)
		}
		<-said // gone: no write of its can follow
	}
	ioctlInt(d, fiThaw) // EINVAL where it is not frozen
	return nil
}

// holdFrozenForTest is a test's seam: with AMIH_GUEST_TEST_FREEZE_HOLD
// set to a file name, zero-left, once frozen, creates that file and waits
// a minute, so that a test can end the helper while the filesystem is
// frozen. Unset (always, outside the helper's own tests), it does nothing.
func holdFrozenForTest() {
	if marker := os.Getenv("AMIH_GUEST_TEST_FREEZE_HOLD"); marker != "" {
		os.WriteFile(marker, nil, 0o600)
		time.Sleep(time.Minute)
	}
}

// zeroFrozen, the filesystem frozen: each dirty run still free (GETFSMAP
// now) is read again and its blocks that hold data are written with zeros
// on the device, which is synced.
func zeroFrozen(l *leftScan, w *os.File, dirty []span, mu *sync.Mutex) (int64, error) {
	r := l.r
	free, err := freeSpans(l.dir, l.dev)
	if err != nil {
		return 0, err
	}
	freeNow := spanSet(nil).add(free...)
	var zeroed int64
	for _, x := range dirty {
		if len(freeNow.minus(x)) > 0 {
			continue // no longer all free: not ours to write
		}
		err := r.dirtyRuns(x, func(run span) error {
			mu.Lock()
			defer mu.Unlock()
			if _, err := w.WriteAt(r.zeros[:run.end-run.start], run.start); err != nil {
				return fmt.Errorf("writing zeros to %s: %w", w.Name(), err)
			}
			zeroed += run.end - run.start
			return nil
		})
		if err != nil {
			return zeroed, err
		}
	}
	if err := w.Sync(); err != nil {
		return zeroed, fmt.Errorf("syncing %s: %w", w.Name(), err)
	}
	return zeroed, nil
}

func ioctlInt(f *os.File, req uintptr) error {
	var arg int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(unsafe.Pointer(&arg))); errno != 0 {
		return errno
	}
	return nil
}
