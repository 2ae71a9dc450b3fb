package provisioner

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// printedByScripts finds, in every guest script, the record kinds printed
// with `rec KIND` (audit's `found` prints findings) and the verbs of change
// records: `rec change VERB` and lib.sh's helpers that take the verb first
// (change_overwritten, empty_file).
func printedByScripts(t *testing.T) (kinds, verbs map[string][]string) {
	t.Helper()
	kinds, verbs = map[string][]string{}, map[string][]string{}
	entries, err := scripts.ReadDir("scripts")
	if err != nil {
		t.Fatal(err)
	}
	kindRe := regexp.MustCompile(`(?m)(?:^|[\s;|&(])rec ([a-z_]+)\b`)
	verbRe := regexp.MustCompile(`(?m)(?:rec change|change_overwritten|empty_file) ([a-z][a-z-]*)\b`)
	for _, e := range entries {
		text := scriptText(e.Name())
		for _, m := range kindRe.FindAllStringSubmatch(text, -1) {
			kinds[m[1]] = append(kinds[m[1]], e.Name())
		}
		if strings.Contains(text, "found() {") {
			kinds["finding"] = append(kinds["finding"], e.Name())
		}
		for _, m := range verbRe.FindAllStringSubmatch(text, -1) {
			verbs[m[1]] = append(verbs[m[1]], e.Name())
		}
	}
	kinds["done"] = append(kinds["done"], "lib.sh") // rec "done" (quoted: a shell word)
	return kinds, verbs
}

// TestWireDeclaresWhatScriptsPrint: every record kind and change verb a
// script prints is declared in wire.go, and every declared one is printed
// somewhere (the runner adds the reboots): the declaration is the wire.
func TestWireDeclaresWhatScriptsPrint(t *testing.T) {
	kinds, verbs := printedByScripts(t)
	for kind, where := range kinds {
		if !knownRecordKind(kind) {
			t.Errorf("%v print record kind %q, which wire.go's recordKinds lacks", where, kind)
		}
	}
	for _, k := range recordKinds {
		if len(kinds[k.Name]) == 0 {
			t.Errorf("record kind %q is declared but no script prints it", k.Name)
		}
	}
	var declared []string
	for _, v := range actionVerbs {
		declared = append(declared, v.Verb)
	}
	for verb, where := range verbs {
		if !slices.Contains(declared, verb) {
			t.Errorf("%v print change verb %q, which wire.go's actionVerbs lacks", where, verb)
		}
	}
	for _, v := range declared {
		if len(verbs[v]) == 0 && v != "reboot" {
			t.Errorf("change verb %q is declared but no script prints it", v)
		}
	}
}

// TestReportDocsListEveryVerb: docs/report.md's list of actions is
// actionVerbs, no more, no less.
func TestReportDocsListEveryVerb(t *testing.T) {
	data, err := os.ReadFile("../docs/report.md")
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile("(?m)^\\| `steps\\[\\]\\.actions\\[\\]` \\| `action` \\(([^)]*)\\)").FindStringSubmatch(string(data))
	if line == nil {
		t.Fatal("docs/report.md has no row for steps[].actions[]")
	}
	var listed, declared []string
	for _, m := range regexp.MustCompile("`([a-z-]+)`").FindAllStringSubmatch(line[1], -1) {
		listed = append(listed, m[1])
	}
	for _, v := range actionVerbs {
		declared = append(declared, v.Verb)
	}
	sort.Strings(listed)
	sort.Strings(declared)
	if !slices.Equal(listed, declared) {
		t.Errorf("docs/report.md lists the actions\n%v\nwire.go declares\n%v", listed, declared)
	}
}

// TestFoldFailsOnAnUnknownKind: a record kind the wire does not declare
// fails the step, naming it, instead of vanishing.
func TestFoldFailsOnAnUnknownKind(t *testing.T) {
	var out strings.Builder
	r := &checklistRunner{ui: &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: &out, ErrorWriter: &out}}
	res := &StepResult{Status: StatusOK}
	r.fold(res, record{Kind: "chnage", Fields: []string{"remove", "/x"}})
	if res.Status != StatusFailed || !strings.Contains(res.Error, `"chnage"`) {
		t.Errorf("status %v, error %q: want the step failed naming the kind", res.Status, res.Error)
	}
}

// TestConfigDocsNameEveryStep: the docs of `steps` name every step of the
// catalogue, and those of `step_timeouts` every step whose own deadline is
// not the default (the comments in config.go, rendered by make generate).
func TestConfigDocsNameEveryStep(t *testing.T) {
	data, err := os.ReadFile("../docs-partials/provisioner/Config-not-required.mdx")
	if err != nil {
		t.Fatal(err)
	}
	bullet := func(attr string) string {
		m := regexp.MustCompile("(?s)- `" + attr + "` \\([^)]*\\) - (.*?)\n\n").FindStringSubmatch(string(data))
		if m == nil {
			t.Fatalf("no bullet for %s", attr)
		}
		return strings.Join(strings.Fields(m[1]), " ")
	}
	steps, timeouts := bullet("steps"), bullet("step_timeouts")
	for _, s := range catalogue {
		if !strings.Contains(steps, "`"+s.Name+"`") {
			t.Errorf("the docs of steps do not name %s", s.Name)
		}
		if s.Timeout != 0 && s.Timeout != defaultStepTimeout && !strings.Contains(timeouts, "`"+s.Name+"` ") {
			t.Errorf("the docs of step_timeouts do not give %s's default (%s)", s.Name, s.Timeout)
		}
	}
}

// TestChoicesAreDeclaredOnce (issue 24): a setting with a fixed set of
// values is declared once (wire.go's choices); its script's header lists
// the same values for its input, the attribute's generated docs name each
// value, and validation refuses anything else while taking the default.
func TestChoicesAreDeclaredOnce(t *testing.T) {
	blockType := map[string]string{}
	ct := reflect.TypeOf(Config{})
	for i := 0; i < ct.NumField(); i++ {
		if tag := strings.Split(ct.Field(i).Tag.Get("mapstructure"), ",")[0]; tag != "" {
			blockType[tag] = ct.Field(i).Type.Name()
		}
	}
	for _, c := range choices {
		def := stepByName(c.Step)
		if c.Input != "" {
			header := regexp.MustCompile(regexp.QuoteMeta(c.Input) + ` \(([^)]*)\)`).FindStringSubmatch(scriptText(def.script()))
			if header == nil || header[1] != strings.Join(c.Values, " | ") {
				t.Errorf("%s: the header of %s lists %v for %s, want (%s)", c.Step, def.script(), header, c.Input, strings.Join(c.Values, " | "))
			}
		}
		docs, err := os.ReadFile("../docs-partials/provisioner/" + blockType[c.Step] + "-not-required.mdx")
		if err != nil {
			t.Fatal(err)
		}
		para := regexp.MustCompile("(?s)- `" + c.Attr + "` \\(string\\) - (.*?)(\n- `|$)").FindSubmatch(docs)
		if para == nil {
			t.Errorf("%s.%s is not in its docs", c.Step, c.Attr)
			continue
		}
		for _, v := range append([]string{c.Default}, c.Values...) {
			if !strings.Contains(string(para[1]), "`"+v+"`") {
				t.Errorf("the docs of %s.%s do not name %q", c.Step, c.Attr, v)
			}
		}
		if _, err := prepare(map[string]interface{}{c.Step: map[string]interface{}{c.Attr: "not-a-" + c.Attr}}); err == nil ||
			!strings.Contains(err.Error(), c.Step+"."+c.Attr+`: "not-a-`+c.Attr+`" is not allowed`) {
			t.Errorf("%s.%s: a value not declared: %v", c.Step, c.Attr, err)
		}
	}
}
