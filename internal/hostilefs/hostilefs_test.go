package hostilefs

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tree lists every path under root with its content or link target.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			out[rel] = "-> " + strings.TrimPrefix(target, root)
		case d.Type().IsRegular():
			data, _ := os.ReadFile(path)
			out[rel] = string(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestScriptPlantsWhatApplyPlants: the script the e2e suite runs on the
// guest plants, name for name and byte for byte, the tree Apply plants for
// the unit tests (under dash and busybox).
func TestScriptPlantsWhatApplyPlants(t *testing.T) {
	plan := Generate(Options{Seed: 13, Rounds: 5, Homes: []string{"root", "home/a"}, LinkHome: "home/b"})
	applied := t.TempDir()
	if err := plan.Apply(applied); err != nil {
		t.Fatal(err)
	}
	want := tree(t, applied)
	if len(want) < 200 {
		t.Fatalf("only %d paths", len(want))
	}
	for _, sh := range [][]string{{"dash"}, {"busybox", "sh"}} {
		root := t.TempDir()
		cmd := exec.Command(sh[0], append(sh[1:], "-c", plan.Script())...)
		cmd.Env = append(os.Environ(), "HOSTILE_ROOT="+root)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", sh[0], err, out)
		}
		got := tree(t, root)
		for path, content := range want {
			if got[path] != content {
				t.Errorf("%s: %q is %q, want %q", sh[0], path, got[path], content)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d paths, want %d", sh[0], len(got), len(want))
		}
	}
}
