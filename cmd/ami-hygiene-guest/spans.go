//go:build linux

package main

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// span is a range of the device, in bytes: [start, end).
type span struct{ start, end int64 }

// spanSet is a set of device ranges, sorted and merged.
type spanSet []span

// add returns s with x in it.
func (s spanSet) add(x ...span) spanSet {
	all := append(slices.Clone(s), x...)
	slices.SortFunc(all, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	var out spanSet
	for _, y := range all {
		if y.end <= y.start {
			continue
		}
		if n := len(out); n > 0 && y.start <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, y.end)
			continue
		}
		out = append(out, y)
	}
	return out
}

// minus returns the parts of x that are not in s, in order.
func (s spanSet) minus(x span) []span {
	var out []span
	at := x.start
	for _, y := range s {
		if y.end <= at {
			continue
		}
		if y.start >= x.end {
			break
		}
		if y.start > at {
			out = append(out, span{at, y.start})
		}
		at = max(at, y.end)
		if at >= x.end {
			return out
		}
	}
	if at < x.end {
		out = append(out, span{at, x.end})
	}
	return out
}

// loadSeen reads the ranges a run before has read (a line each, "START
// LENGTH" in bytes); a file that is not there yet is an empty set.
func loadSeen(path string) (spanSet, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	var s []span
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s line %d: want START LENGTH", path, n)
		}
		start, err1 := strconv.ParseInt(fields[0], 10, 64)
		length, err2 := strconv.ParseInt(fields[1], 10, 64)
		if err1 != nil || err2 != nil || start < 0 || length <= 0 || start > 1<<62-length {
			return nil, fmt.Errorf("%s line %d: want two numbers", path, n)
		}
		s = append(s, span{start, start + length})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return spanSet(nil).add(s...), nil
}

// saveSeen adds the ranges read to the file at path (made 0600 when it is
// not there).
func saveSeen(path string, read []span) error {
	if path == "" || len(read) == 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, x := range read {
		fmt.Fprintf(w, "%d %d\n", x.start, x.end-x.start)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
