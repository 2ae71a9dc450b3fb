//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// FIEMAP (linux/fiemap.h).
const (
	fsIocFiemap     = 0xC020660B // _IOWR('f', 11, struct fiemap)
	fiemapFlagSync  = 0x1
	fiemapHeader    = 32
	fiemapExtentLen = 56
	// Extent flags.
	extentLast        = 0x1
	extentUnknown     = 0x2
	extentDelalloc    = 0x4
	extentEncoded     = 0x8
	extentEncrypted   = 0x80
	extentNotAligned  = 0x100
	extentDataInline  = 0x200
	extentDataTail    = 0x400
	extentShared      = 0x2000
	extentNotOnDevice = extentUnknown | extentDelalloc | extentEncoded | extentEncrypted |
		extentNotAligned | extentDataInline | extentDataTail | extentShared
)

// extent is one FIEMAP extent, in bytes.
type extent struct {
	logical, physical, length int64
}

// extents returns every extent of f, as FIEMAP gives them, after a sync
// of the file (FIEMAP_FLAG_SYNC). It fails on an extent that is not
// plainly on the filesystem's device.
func extents(f *os.File) ([]extent, error) {
	const batch = 256
	if !littleEndian() {
		return nil, errors.New("FIEMAP: a big-endian machine is not supported")
	}
	le := binary.LittleEndian
	buf := make([]byte, fiemapHeader+batch*fiemapExtentLen)
	var out []extent
	var start uint64
	for {
		clear(buf)
		le.PutUint64(buf[0:], start)
		le.PutUint64(buf[8:], ^uint64(0)-start)
		le.PutUint32(buf[16:], fiemapFlagSync)
		le.PutUint32(buf[24:], batch)
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(&buf[0]))); errno != 0 {
			return nil, fmt.Errorf("FIEMAP on %s: %w", f.Name(), errno)
		}
		n := int(le.Uint32(buf[20:]))
		if n == 0 {
			return out, nil
		}
		last := false
		for i := range n {
			e := buf[fiemapHeader+i*fiemapExtentLen:]
			x := extent{int64(le.Uint64(e[0:])), int64(le.Uint64(e[8:])), int64(le.Uint64(e[16:]))}
			flags := le.Uint32(e[40:])
			if flags&extentNotOnDevice != 0 {
				return nil, fmt.Errorf("%s: an extent at byte %d is not plainly on the device (FIEMAP flags %#x)", f.Name(), x.logical, flags)
			}
			if x.length <= 0 || uint64(x.logical+x.length) <= start {
				return nil, fmt.Errorf("%s: FIEMAP gave an extent that does not move on (byte %d, length %d)", f.Name(), x.logical, x.length)
			}
			out = append(out, x)
			start = uint64(x.logical + x.length)
			last = flags&extentLast != 0
		}
		if last {
			return out, nil
		}
	}
}

func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// chunk is the size of one read of the device.
const chunk = 1 << 20

// aligned returns a zeroed buffer of n bytes aligned for direct I/O.
func aligned(n int) []byte {
	const align = 4096
	b := make([]byte, n+align)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (align - 1))
	if off != 0 {
		off = align - off
	}
	return b[off : off+n : off+n]
}

// openDirect opens path with O_DIRECT, or without it where the filesystem
// refuses it (the caller syncs at the end either way).
func openDirect(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_DIRECT|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, syscall.EINVAL) {
		f, err = os.OpenFile(path, flag|syscall.O_NOFOLLOW, 0)
	}
	return f, err
}

// openDevice opens device for direct reads; it must be the block device
// whose number is fsDev, the st_dev of what (a path on its filesystem): the
// blocks FIEMAP and GETFSMAP name are that device's, and reading another
// would leave them unread.
func openDevice(device string, fsDev uint64, what string) (*os.File, error) {
	dev, err := openDirect(device, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	dst, err := dev.Stat()
	if err != nil || dst.Mode()&os.ModeDevice == 0 || dst.Mode()&os.ModeCharDevice != 0 {
		dev.Close()
		return nil, fmt.Errorf("%s is not a block device", device)
	}
	if dst.Sys().(*syscall.Stat_t).Rdev != fsDev {
		dev.Close()
		return nil, fmt.Errorf("%s is not on %s", what, device)
	}
	return dev, nil
}

// reader reads a device in chunks and finds the blocks that hold data.
type reader struct {
	dev        *os.File
	bs         int64
	buf, zeros []byte
	read       int64
}

func newReader(dev *os.File, bs int64) *reader {
	return &reader{dev: dev, bs: bs, buf: aligned(chunk), zeros: aligned(chunk)}
}

// dirtyRuns reads x on the device and calls fn with each run of blocks in
// it that are not all zeros (device offsets, one chunk at most each).
func (r *reader) dirtyRuns(x span, fn func(run span) error) error {
	if x.start%r.bs != 0 || x.end%r.bs != 0 {
		return fmt.Errorf("the range at byte %d is not in whole blocks of %d bytes", x.start, r.bs)
	}
	bs := r.bs
	for off := x.start; off < x.end; off += chunk {
		n := min(int64(chunk), x.end-off)
		if _, err := r.dev.ReadAt(r.buf[:n], off); err != nil {
			return fmt.Errorf("reading %s: %w", r.dev.Name(), err)
		}
		r.read += n
		for b := int64(0); b < n; {
			if bytes.Equal(r.buf[b:b+bs], r.zeros[:bs]) {
				b += bs
				continue
			}
			end := b + bs
			for end < n && !bytes.Equal(r.buf[end:end+bs], r.zeros[:bs]) {
				end += bs
			}
			if err := fn(span{off + b, off + end}); err != nil {
				return err
			}
			b = end
		}
	}
	return nil
}

// zeroFree reads the device under each block of file and writes zeros
// through file over the blocks that hold data. With seen, the ranges of
// the device listed there are not read again, and the ranges read are
// added to it. It returns the bytes read and the bytes written.
func zeroFree(file, device string, bs int64, seen string) (read, zeroed int64, err error) {
	f, err := openDirect(file, os.O_RDWR)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return 0, 0, fmt.Errorf("%s is not a regular file", file)
	}
	var fst syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &fst); err != nil {
		return 0, 0, err
	}
	dev, err := openDevice(device, fst.Dev, file)
	if err != nil {
		return 0, 0, err
	}
	defer dev.Close()
	done, err := loadSeen(seen)
	if err != nil {
		return 0, 0, err
	}
	list, err := extents(f)
	if err != nil {
		return 0, 0, err
	}
	r := newReader(dev, bs)
	var now []span
	for _, x := range list {
		if x.physical%bs != 0 || x.length%bs != 0 || x.logical%bs != 0 {
			return r.read, zeroed, fmt.Errorf("%s: an extent at byte %d is not in whole blocks of %d bytes", file, x.logical, bs)
		}
		for _, part := range done.minus(span{x.physical, x.physical + x.length}) {
			// Each run of blocks that hold data, written as one through
			// the file, at the run's place in it.
			err := r.dirtyRuns(part, func(run span) error {
				at := x.logical + run.start - x.physical
				if _, err := f.WriteAt(r.zeros[:run.end-run.start], at); err != nil {
					return fmt.Errorf("writing zeros through %s: %w", file, err)
				}
				zeroed += run.end - run.start
				return nil
			})
			if err != nil {
				return r.read, zeroed, err
			}
			now = append(now, part)
		}
	}
	if err := f.Sync(); err != nil {
		return r.read, zeroed, fmt.Errorf("syncing %s: %w", file, err)
	}
	return r.read, zeroed, saveSeen(seen, now)
}
