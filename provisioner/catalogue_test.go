package provisioner

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestCatalogueIsConsistent: every step has its script, its HCL block of the
// same name in Config, a heading, what it touches, and a section in the docs;
// every script but the shared ones belongs to a step.
func TestCatalogueIsConsistent(t *testing.T) {
	blocks := map[string]bool{}
	ct := reflect.TypeOf(Config{})
	for i := 0; i < ct.NumField(); i++ {
		blocks[strings.Split(ct.Field(i).Tag.Get("mapstructure"), ",")[0]] = true
	}
	// The rendered docs: the overview table is written by hand, the sections
	// are generated from the catalogue.
	docs, err := os.ReadFile("../.web-docs/components/provisioner/ami-hygiene/README.md")
	if err != nil {
		t.Fatal(err)
	}
	owned := map[string]bool{"lib.sh": true, "probe.sh": true}
	for _, s := range catalogue {
		if s.Title == "" || len(s.Touches) == 0 {
			t.Errorf("%s: no title or no list of what it touches", s.Name)
		}
		if scriptText(s.script()) == "" {
			t.Errorf("%s: script %q is empty", s.Name, s.script())
		}
		if !blocks[s.Name] {
			t.Errorf("%s: no block of that name in Config", s.Name)
		}
		if !strings.Contains(string(docs), "### `"+s.Name+"`") {
			t.Errorf("%s: no section in the docs (make generate)", s.Name)
		}
		if !regexp.MustCompile("(?m)^\\| [0-9]+ +\\| `" + s.Name + "` *\\|").Match(docs) {
			t.Errorf("%s: no row in the docs' overview table", s.Name)
		}
		// A missing configOf, or one that returns no block (a nil pointer in
		// the interface is not == nil), is caught here, not by a panic later.
		if s.configOf == nil {
			t.Errorf("%s: no configOf", s.Name)
		} else if cfg := s.configOf(&Config{}); cfg == nil || (reflect.ValueOf(cfg).Kind() == reflect.Pointer && reflect.ValueOf(cfg).IsNil()) {
			t.Errorf("%s: no block", s.Name)
		}
		owned[s.script()] = true
	}
	entries, err := scripts.ReadDir("scripts")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !owned[e.Name()] {
			t.Errorf("scripts/%s belongs to no step", e.Name())
		}
	}
}

// TestNoRebootAfterNoReconnect: once a step may have made a new SSH
// connection fail (its script calls no_reconnect), no later step may ask for
// a reboot, before its script or from it.
func TestNoRebootAfterNoReconnect(t *testing.T) {
	locked := ""
	var reboots []string // the steps found to reboot: proves the detection works
	for _, s := range catalogue {
		_, rebootsFirst := s.configOf(&Config{}).(rebootFirster)
		if rebootsFirst || strings.Contains(scriptText(s.script()), "rec reboot") {
			reboots = append(reboots, s.Name)
			if locked != "" {
				t.Errorf("%s may reboot after %s, which may have made a new connection fail", s.Name, locked)
			}
		}
		if locked == "" && strings.Contains(scriptText(s.script()), "no_reconnect ") {
			locked = s.Name
		}
	}
	if locked != "machine_identity" {
		t.Errorf("the first step that may make a new connection fail is %q, want machine_identity", locked)
	}
	if strings.Join(reboots, ",") != "update_packages,verify" {
		t.Errorf("steps that may reboot: %v, want update_packages and verify", reboots)
	}
}

// TestScriptInputsMatchTheirGoSide: the AMIH_* variables each step script
// reads are exactly those its block exports, so that a renamed or forgotten
// input cannot pass silently (Go and sh are tied by these names alone). The
// run's own inputs (runInputs) and lib.sh's AMIH_ROOT are every script's.
func TestScriptInputsMatchTheirGoSide(t *testing.T) {
	p, err := prepare(map[string]interface{}{
		"verify": []map[string]interface{}{{"command": "true"}, {"command": "true"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	common := map[string]bool{"AMIH_ROOT": true}
	for _, e := range runInputs(p.options) {
		common[e.Name] = true
	}
	numbered := regexp.MustCompile(`_([0-9]+|\$\{i\}|\$i)_`)
	read := regexp.MustCompile(`AMIH_[A-Z0-9_]+(\$\{i\}_[A-Z0-9_]+)?`)
	for _, s := range catalogue {
		exported := map[string]bool{}
		for _, e := range s.configOf(&p.config).env() {
			exported[numbered.ReplaceAllString(e.Name, "_N_")] = true
		}
		used := map[string]bool{}
		for _, name := range read.FindAllString(scriptText(s.script()), -1) {
			if name = numbered.ReplaceAllString(name, "_N_"); !common[name] {
				used[name] = true
			}
		}
		for name := range used {
			if !exported[name] {
				t.Errorf("%s: the script reads %s, which its block does not export", s.Name, name)
			}
		}
		for name := range exported {
			if !used[name] {
				t.Errorf("%s: the block exports %s, which the script never reads", s.Name, name)
			}
		}
	}
}
