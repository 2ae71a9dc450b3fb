// Package reportschema validates a report file against the JSON Schema in
// docs/report.schema.json, for the tests that produce reports.
package reportschema

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var (
	once     sync.Once
	compiled *jsonschema.Schema
	loadErr  error
)

// Path is the schema file in this repository.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "docs", "report.schema.json")
}

// Validate checks the JSON report at path against the schema.
func Validate(path string) error {
	once.Do(func() {
		c := jsonschema.NewCompiler()
		compiled, loadErr = c.Compile(Path())
	})
	if loadErr != nil {
		return fmt.Errorf("loading %s: %w", Path(), loadErr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc interface{}
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s is not JSON: %w", path, err)
	}
	if err := compiled.Validate(doc); err != nil {
		return fmt.Errorf("%s does not follow docs/report.schema.json: %v", path, err)
	}
	return nil
}
