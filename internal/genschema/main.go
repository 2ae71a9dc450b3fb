// Command genschema writes the JSON Schema of the report the plugin writes
// (provisioner.Report), generated from the Go types and their doc comments,
// so that the schema and the code share one source.
//
// Usage (from provisioner/, as its go:generate line does): go run
// ../internal/genschema FILE
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/invopop/jsonschema"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/provisioner"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genschema FILE")
		os.Exit(2)
	}
	// Every field the plugin writes without omitempty is required, and
	// nothing else may appear (the reflector's defaults).
	r := &jsonschema.Reflector{}
	// The doc comments of the provisioner package, read from its folder (the
	// working directory of go generate).
	if err := r.AddGoComments("github.com/ami-hygiene/packer-plugin-ami-hygiene/provisioner", "."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := r.Reflect(&provisioner.Report{})
	s.ID = "https://github.com/ami-hygiene/packer-plugin-ami-hygiene/blob/main/docs/report.schema.json"
	s.Title = "ami-hygiene report"
	s.Description = "The JSON report of the ami-hygiene Packer provisioner (report_path). Generated from provisioner/report.go by internal/genschema; see docs/report.md."
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[1], append(data, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
