//go:build linux

// Command ami-hygiene-guest is the plugin's small static helper for the
// guest: the system calls a POSIX sh cannot make. The plugin embeds it for
// linux/amd64 and linux/arm64, uploads it through the communicator and
// checks its SHA-256 on the guest before it runs (lib.sh helper_install);
// where it cannot run, the step does the same work in sh, more slowly.
//
// Usage:
//
//	ami-hygiene-guest check
//	ami-hygiene-guest zero-free FILE DEVICE BLOCK_SIZE [SEEN]
//	ami-hygiene-guest free-left DIR DEVICE BLOCK_SIZE SEEN
//	ami-hygiene-guest zero-left DIR DEVICE BLOCK_SIZE SEEN
//
// zero-free reads, on DEVICE (the block device of FILE's filesystem), the
// blocks FILE holds (FIEMAP), in 1 MiB direct reads, and writes zeros
// through FILE (never to the device) over each block of BLOCK_SIZE bytes
// that is not zero already, then syncs FILE. It prints one line: the bytes
// read and the bytes written ("READ ZEROED"). It fails, saying why on
// standard error, when FILE's blocks cannot be told exactly (no FIEMAP, an
// extent that is not on the device as it stands: inline, encoded, delayed,
// shared, unknown). With SEEN (a file of the helper's own, in its private
// folder), the device ranges listed there are not read again and the ranges
// read are added to it.
//
// free-left lists the free blocks of DIR's filesystem (GETFSMAP), reads
// those SEEN does not list and prints the bytes read and the bytes that
// held data ("READ DIRTY"); it writes nothing. After the fill files are
// gone, it finds the free blocks they could not take (XFS's allocator keeps
// a few free blocks on its free list while a file takes the rest).
//
// zero-left clears those (at most 64 MiB): it lists them as free-left does,
// freezes DIR's filesystem (FIFREEZE: nothing can be allocated while it is
// frozen), checks each is free still, reads it again, writes zeros over the
// blocks that hold data on DEVICE itself, syncs and thaws, at most 5
// seconds after the freeze began. It prints the bytes read and written.
// Before the freeze it starts a guard of its own (thaw-guard, its own
// session: no signal to the step's process group reaches it) that thaws
// the filesystem when zero-left ends without having thawed it, whatever
// ended it (TERM, KILL), and KILLs it, then thaws, when the freeze outlives
// 7 seconds. zero-left does not ignore TERM: it ends, and its guard thaws.
package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ami-hygiene-guest:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 1 && args[0] == "check" {
		fmt.Println("ok")
		return nil
	}
	if len(args) == 4 && args[0] == "thaw-guard" {
		return thawGuardMain(args[1], args[2], args[3])
	}
	var do func(string, string, int64, string) (int64, int64, error)
	switch {
	case (len(args) == 4 || len(args) == 5) && args[0] == "zero-free":
		do = zeroFree
	case len(args) == 5 && args[0] == "free-left":
		do = freeLeft
	case len(args) == 5 && args[0] == "zero-left":
		do = zeroLeft
	default:
		return fmt.Errorf("usage: ami-hygiene-guest check | zero-free FILE DEVICE BLOCK_SIZE [SEEN] | free-left DIR DEVICE BLOCK_SIZE SEEN | zero-left DIR DEVICE BLOCK_SIZE SEEN")
	}
	bs, err := strconv.ParseInt(args[3], 10, 64)
	if err != nil || bs < 512 || bs > 1<<20 || bs&(bs-1) != 0 {
		return fmt.Errorf("BLOCK_SIZE %q: a power of two from 512 to 1048576", args[3])
	}
	seen := ""
	if len(args) == 5 {
		seen = args[4]
	}
	a, b, err := do(args[1], args[2], bs, seen)
	if err != nil {
		return err
	}
	fmt.Printf("%d %d\n", a, b)
	return nil
}
