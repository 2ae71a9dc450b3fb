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

// zeroFree reads the device under each block of file and writes zeros
// through file over the blocks that hold data. It returns the bytes read
// and the bytes written.
func zeroFree(file, device string, bs int64) (read, zeroed int64, err error) {
	f, err := openDirect(file, os.O_RDWR)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return 0, 0, fmt.Errorf("%s is not a regular file", file)
	}
	dev, err := openDirect(device, os.O_RDONLY)
	if err != nil {
		return 0, 0, err
	}
	defer dev.Close()
	dst, err := dev.Stat()
	if err != nil || dst.Mode()&os.ModeDevice == 0 || dst.Mode()&os.ModeCharDevice != 0 {
		return 0, 0, fmt.Errorf("%s is not a block device", device)
	}
	// The blocks FIEMAP names are the device's that holds the file's
	// filesystem: reading another would leave the free blocks unread.
	var fst syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &fst); err != nil {
		return 0, 0, err
	}
	if rdev := dst.Sys().(*syscall.Stat_t).Rdev; rdev != fst.Dev {
		return 0, 0, fmt.Errorf("%s is not on %s", file, device)
	}
	list, err := extents(f)
	if err != nil {
		return 0, 0, err
	}
	buf, zeros := aligned(chunk), aligned(chunk)
	for _, x := range list {
		if x.physical%bs != 0 || x.length%bs != 0 || x.logical%bs != 0 {
			return read, zeroed, fmt.Errorf("%s: an extent at byte %d is not in whole blocks of %d bytes", file, x.logical, bs)
		}
		for off := int64(0); off < x.length; off += chunk {
			n := min(int64(chunk), x.length-off)
			if _, err := dev.ReadAt(buf[:n], x.physical+off); err != nil {
				return read, zeroed, fmt.Errorf("reading %s: %w", device, err)
			}
			read += n
			// Each run of blocks that hold data, written as one.
			for b := int64(0); b < n; {
				if bytes.Equal(buf[b:b+bs], zeros[:bs]) {
					b += bs
					continue
				}
				end := b + bs
				for end < n && !bytes.Equal(buf[end:end+bs], zeros[:bs]) {
					end += bs
				}
				if _, err := f.WriteAt(zeros[:end-b], x.logical+off+b); err != nil {
					return read, zeroed, fmt.Errorf("writing zeros through %s: %w", file, err)
				}
				zeroed += end - b
				b = end
			}
		}
	}
	if err := f.Sync(); err != nil {
		return read, zeroed, fmt.Errorf("syncing %s: %w", file, err)
	}
	return read, zeroed, nil
}
