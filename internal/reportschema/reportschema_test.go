package reportschema

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/provisioner"
)

// TestValidate: a report as the plugin writes it passes; a status or
// verdict the plugin never writes, a field it does not know, a missing
// field, and a null list fail.
func TestValidate(t *testing.T) {
	good := provisioner.Report{SchemaVersion: 1, Plugin: "0.1.0", Status: "succeeded", Verdict: provisioner.VerdictClean,
		Findings: []provisioner.Finding{}, Guest: provisioner.GuestFacts{BootIDs: []string{"b"}},
		Steps: []provisioner.StepResult{{Name: "audit", Title: "audit the result", Status: provisioner.StatusOK, Actions: []provisioner.Action{}}}}
	data, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(s string) string
		ok   bool
	}{
		{"as written", func(s string) string { return s }, true},
		{"unknown step status", func(s string) string { return strings.Replace(s, `"status":"ok"`, `"status":"done"`, 1) }, false},
		{"unknown verdict", func(s string) string { return strings.Replace(s, `"verdict":"clean"`, `"verdict":"fine"`, 1) }, false},
		{"unknown field", func(s string) string {
			return strings.Replace(s, `{"schema_version"`, `{"extra":1,"schema_version"`, 1)
		}, false},
		{"missing verdict", func(s string) string { return strings.Replace(s, `"verdict":"clean",`, ``, 1) }, false},
		{"null list", func(s string) string { return strings.Replace(s, `"findings":[]`, `"findings":null`, 1) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.json")
			doc := c.edit(string(data))
			if c.name != "as written" && doc == string(data) {
				t.Fatalf("the edit changed nothing")
			}
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := Validate(path); (err == nil) != c.ok {
				t.Errorf("valid %v, want %v: %v", err == nil, c.ok, err)
			}
		})
	}
}
