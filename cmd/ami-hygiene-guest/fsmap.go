//go:build linux

package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// GETFSMAP (linux/fsmap.h).
const (
	fsIocGetfsmap  = 0xC0C0583B // _IOWR('X', 59, struct fsmap_head)
	fsmapHeadLen   = 64         // up to fmh_keys
	fsmapLen       = 64         // struct fsmap
	fsmapOwnFree   = 1          // FMR_OWN_FREE: FMR_OWNER(0, 1)
	fsmapFlagLast  = 0x20       // FMR_OF_LAST
	fsmapFlagOwner = 0x10       // FMR_OF_SPECIAL_OWNER
)

// freeSpans returns the free ranges of the filesystem that holds dir, on
// the device numbered fsDev (its data device), as GETFSMAP gives them.
func freeSpans(dir *os.File, fsDev uint64) ([]span, error) {
	const batch = 512
	le := binary.LittleEndian
	buf := make([]byte, fsmapHeadLen+(2+batch)*fsmapLen)
	low := buf[fsmapHeadLen:]
	high := buf[fsmapHeadLen+fsmapLen:]
	clear(buf)
	// The high key: everything (device, flags, physical, owner, offset;
	// its length 0).
	le.PutUint32(high[0:], ^uint32(0))
	le.PutUint32(high[4:], ^uint32(0))
	for i := 8; i < 32; i += 8 {
		le.PutUint64(high[i:], ^uint64(0))
	}
	var out []span
	for {
		le.PutUint32(buf[8:], batch) // fmh_count
		le.PutUint32(buf[12:], 0)    // fmh_entries
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, dir.Fd(), fsIocGetfsmap, uintptr(unsafe.Pointer(&buf[0]))); errno != 0 {
			return nil, fmt.Errorf("GETFSMAP on %s: %w", dir.Name(), errno)
		}
		n := int(le.Uint32(buf[12:]))
		if n == 0 {
			return out, nil
		}
		var rec []byte
		last := false
		for i := range n {
			rec = buf[fsmapHeadLen+(2+i)*fsmapLen:][:fsmapLen]
			device, flags := le.Uint32(rec[0:]), le.Uint32(rec[4:])
			physical, owner, length := le.Uint64(rec[8:]), le.Uint64(rec[16:]), le.Uint64(rec[32:])
			last = flags&fsmapFlagLast != 0
			if uint64(device) != fsDev&0xffffffff || flags&fsmapFlagOwner == 0 || owner != fsmapOwnFree {
				continue
			}
			if length == 0 || physical > 1<<62 || length > 1<<62-physical {
				return nil, fmt.Errorf("GETFSMAP on %s gave a free range that cannot be (byte %d, length %d)", dir.Name(), physical, length)
			}
			out = append(out, span{int64(physical), int64(physical + length)})
		}
		if last {
			return out, nil
		}
		// The next call starts after the last record (the kernel adds its
		// length to the low key).
		copy(low, rec)
	}
}

// leftScan is what free-left and zero-left read: a folder of the
// filesystem, its device open for reads, the ranges seen.
type leftScan struct {
	dir  *os.File
	dev  uint64 // the filesystem's st_dev
	r    *reader
	done spanSet
}

func openLeft(dir, device string, bs int64, seen string) (*leftScan, error) {
	d, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(d.Fd()), &st); err != nil {
		d.Close()
		return nil, err
	}
	done, err := loadSeen(seen)
	if err != nil {
		d.Close()
		return nil, err
	}
	dev, err := openDevice(device, st.Dev, dir)
	if err != nil {
		d.Close()
		return nil, err
	}
	return &leftScan{dir: d, dev: st.Dev, r: newReader(dev, bs), done: done}, nil
}

func (l *leftScan) Close() {
	l.r.dev.Close()
	l.dir.Close()
}

// dirty lists the runs of free blocks, not in done, that hold data.
func (l *leftScan) dirty() ([]span, error) {
	free, err := freeSpans(l.dir, l.dev)
	if err != nil {
		return nil, err
	}
	bs := l.r.bs
	var dirty []span
	for _, x := range free {
		// Whole blocks only: a free range is in the filesystem's blocks.
		x.start = (x.start + bs - 1) / bs * bs
		x.end = x.end / bs * bs
		for _, part := range l.done.minus(x) {
			if err := l.r.dirtyRuns(part, func(run span) error {
				dirty = append(dirty, run)
				return nil
			}); err != nil {
				return nil, err
			}
		}
	}
	return dirty, nil
}

// freeLeft reads, on device, the free blocks of dir's filesystem that seen
// does not list (the ranges the fill files held and zero-free read), and
// returns the bytes read and the bytes that held data. It writes nothing.
func freeLeft(dir, device string, bs int64, seen string) (read, dirty int64, err error) {
	l, err := openLeft(dir, device, bs, seen)
	if err != nil {
		return 0, 0, err
	}
	defer l.Close()
	runs, err := l.dirty()
	for _, x := range runs {
		dirty += x.end - x.start
	}
	return l.r.read, dirty, err
}
