//go:build linux

package main

import (
	"fmt"
	"os"
	"os/signal"
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
	// The freeze: TERM and the like wait for its end (it is short).
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	defer signal.Reset(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	if err := ioctlInt(d, fiFreeze); err != nil {
		return r.read, 0, fmt.Errorf("freezing %s: %w", dir, err)
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
	zeroed, err = zeroFrozen(l, wdev, dirty, &mu)
	mu.Lock()
	bound.Stop()
	if terr := thaw(); terr != nil && err == nil {
		err = fmt.Errorf("thawing %s: %w", dir, terr)
	}
	mu.Unlock()
	return r.read, zeroed, err
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
