//go:build linux

package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestSpanSet: ranges are merged when they touch or overlap, and minus
// leaves the parts of a range no member covers.
func TestSpanSet(t *testing.T) {
	s := spanSet(nil).add(span{40, 50}, span{0, 10}, span{10, 20}, span{45, 60}, span{70, 70})
	if want := (spanSet{{0, 20}, {40, 60}}); !reflect.DeepEqual(s, want) {
		t.Fatalf("add: %v, want %v", s, want)
	}
	for _, c := range []struct {
		x    span
		want []span
	}{
		{span{0, 20}, nil},
		{span{5, 15}, nil},
		{span{20, 40}, []span{{20, 40}}},
		{span{15, 45}, []span{{20, 40}}},
		{span{-5, 100}, []span{{-5, 0}, {20, 40}, {60, 100}}},
		{span{60, 80}, []span{{60, 80}}},
	} {
		if got := s.minus(c.x); !reflect.DeepEqual(got, c.want) {
			t.Errorf("minus(%v) = %v, want %v", c.x, got, c.want)
		}
	}
}

// TestSeenFile: what zero-free adds to SEEN is what the next run skips; a
// line that is not two numbers is refused, a missing file is empty.
func TestSeenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seen")
	if s, err := loadSeen(path); err != nil || len(s) != 0 {
		t.Fatalf("missing file: %v %v", s, err)
	}
	if err := saveSeen(path, []span{{4096, 8192}}); err != nil {
		t.Fatal(err)
	}
	if err := saveSeen(path, []span{{0, 4096}, {1 << 20, 2 << 20}}); err != nil {
		t.Fatal(err)
	}
	s, err := loadSeen(path)
	if want := (spanSet{{0, 8192}, {1 << 20, 2 << 20}}); err != nil || !reflect.DeepEqual(s, want) {
		t.Fatalf("loadSeen = %v %v, want %v", s, err, want)
	}
	for _, bad := range []string{"1\n", "a b\n", "0 -4096\n", "-1 4096\n", "0 0\n", "1 2 3\n"} {
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadSeen(path); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: %v, want an error naming line 1", bad, err)
		}
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "elsewhere"), link); err != nil {
		t.Fatal(err)
	}
	if err := saveSeen(link, []span{{0, 4096}}); err == nil {
		t.Errorf("saveSeen followed a symbolic link")
	}
}
