package provisioner

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestVirtSysprepMapIsComplete: the map names every operation of
// virt-sysprep's list, in its order, and nothing else; a covered or partly
// covered operation names the steps that do it (steps of the catalogue),
// the others name none; every entry says what or why.
func TestVirtSysprepMapIsComplete(t *testing.T) {
	data, err := os.ReadFile("testdata/virt-sysprep-operations.txt")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, line := range strings.Split(string(data), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			want = append(want, strings.Fields(line)[0])
		}
	}
	var got []string
	steps := map[string]bool{}
	for _, name := range stepNames() {
		steps[name] = true
	}
	for _, op := range VirtSysprepMap() {
		got = append(got, op.Name)
		covered := op.Coverage == Covered || op.Coverage == Partly
		if covered != (len(op.Steps) > 0) || op.Note == "" {
			t.Errorf("%s: %s with steps %v and note %q", op.Name, op.Coverage, op.Steps, op.Note)
		}
		for _, s := range op.Steps {
			if !steps[s] {
				t.Errorf("%s: no step %q", op.Name, s)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("the map's operations:\n%v\nvirt-sysprep's:\n%v", got, want)
	}
}
