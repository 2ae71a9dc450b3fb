package provisioner

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
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
		if s.Title == "" || s.Summary == "" || len(s.Touches) == 0 {
			t.Errorf("%s: no title, summary or list of what it touches", s.Name)
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

// TestStepsReadOnlyTheirOwnBlocks (issue 24): a step's inputs change with
// its own block and with the settings stepLinks declares for it, with no
// other: each block and run-wide setting of a configuration that sets them
// all is left out in turn, and every step's inputs are compared.
func TestStepsReadOnlyTheirOwnBlocks(t *testing.T) {
	full := map[string]interface{}{
		"reboot_before_verify": true,
		"wait_for_boot":        map[string]interface{}{"boot_timeout": "7m", "min_uptime": "5s", "hold_automatic_updates": false, "cloud_init_errors": "warn"},
		"update_packages":      map[string]interface{}{"reboot": "never"},
		"verify":               []map[string]interface{}{{"name": "n", "command": "true", "expect_output": "x"}},
		"stop_services":        map[string]interface{}{"services": []string{"app"}, "disable": true},
		"mail_queue":           map[string]interface{}{"flush_timeout": "1m", "on_timeout": "purge"},
		"machine_identity":     map[string]interface{}{"reset_hostname": true, "remove_host_keys": false},
		"access_policy":        map[string]interface{}{"lock_root_password": false, "permit_root_login": "no"},
		"logs":                 map[string]interface{}{"exclude": []string{"/var/log/app/*"}, "keep_rotated": true},
		"caches":               map[string]interface{}{"exclude": []string{"/tmp/app"}},
		"shell_history":        map[string]interface{}{"extra_patterns": []string{".x_history"}},
		"credentials":          map[string]interface{}{"paths": []string{"/srv/token"}, "keep_known_hosts": true},
		"authorized_keys":      map[string]interface{}{"keep_users": []string{"admin"}},
		"secret_scan":          map[string]interface{}{"paths": []string{"/srv"}},
		"free_space":           map[string]interface{}{"mode": "discard"},
		"final_shutdown":       map[string]interface{}{"keep_journal": true},
		"audit":                map[string]interface{}{"skip_checks": []string{"machine_id"}},
	}
	inputs := func(raw map[string]interface{}) map[string]string {
		p, err := prepare(raw)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, s := range catalogue {
			cfg := s.configOf(&p.config)
			text := fmt.Sprint(cfg.env())
			if r, ok := cfg.(rebootFirster); ok {
				text += " reboot first: " + r.rebootFirst()
			}
			out[s.Name] = text
		}
		return out
	}
	all := inputs(full)
	for _, s := range catalogue {
		if _, ok := full[s.Name]; !ok {
			t.Errorf("the test's configuration has no %s block", s.Name)
		}
	}
	for left := range full {
		without := map[string]interface{}{}
		for k, v := range full {
			if k != left {
				without[k] = v
			}
		}
		got := inputs(without)
		for _, s := range catalogue {
			changed := got[s.Name] != all[s.Name]
			linked := slices.Contains(stepLinks[s.Name], left)
			switch {
			case s.Name == left:
			case changed && !linked:
				t.Errorf("%s reads %s, which stepLinks does not declare", s.Name, left)
			case !changed && linked:
				t.Errorf("stepLinks says %s reads %s, but its inputs do not change with it", s.Name, left)
			}
		}
	}
}

// TestLibInputsComeFromStepScript (issue 24): the inputs lib.sh reads are
// those stepScript gives every step script (runInputs, AMIH_OVERWRITE and the guest helper's;
// AMIH_ROOT is empty on a guest), and each of those is read somewhere:
// renaming AMIH_OVERWRITE on one side alone fails here, and the script tests
// get the same inputs (guestTree.run).
func TestLibInputsComeFromStepScript(t *testing.T) {
	p, err := prepare(map[string]interface{}{})
	if err != nil {
		t.Fatal(err)
	}
	def := stepByName("credentials")
	helper := guestHelper{}.env()
	body := stepScript(p.options, def, def.configOf(&p.config), guestHelper{})
	exported := map[string]bool{"AMIH_ROOT": true}
	for _, m := range regexp.MustCompile(`(?m)^(AMIH_[A-Z0-9_]+)=.*; export `).FindAllStringSubmatch(body, -1) {
		exported[m[1]] = true
	}
	lib := scriptText("lib.sh")
	assigned := map[string]bool{}
	for _, m := range regexp.MustCompile(`(AMIH_[A-Z0-9_]+)=`).FindAllStringSubmatch(lib, -1) {
		assigned[m[1]] = true
	}
	for _, name := range regexp.MustCompile(`AMIH_[A-Z0-9_]+`).FindAllString(lib, -1) {
		if !assigned[name] && !exported[name] {
			t.Errorf("lib.sh reads %s, which stepScript does not give", name)
		}
	}
	all := lib
	for _, s := range catalogue {
		all += scriptText(s.script())
	}
	for _, e := range append(append(runInputs(p.options), envVar{Name: "AMIH_OVERWRITE"}), helper...) {
		if !exported[e.Name] {
			t.Errorf("stepScript does not give %s", e.Name)
		}
		if !strings.Contains(all, e.Name) {
			t.Errorf("no script reads %s, which stepScript gives every script", e.Name)
		}
	}
}
