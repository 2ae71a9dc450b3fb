//go:generate go run ../internal/genschema ../docs/report.schema.json

package provisioner

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Status is the outcome of one step.
type Status string

// The statuses a step can end with.
const (
	StatusOK          Status = "ok"           // ran, nothing to change
	StatusChanged     Status = "changed"      // ran and changed the guest
	StatusWouldChange Status = "would-change" // dry run: would change the guest
	StatusSkipped     Status = "skipped"      // not run (steps, skip_steps, nothing to do)
	StatusFailed      Status = "failed"       // the step failed; the build fails
)

// Action is one change a step made (or would make, in dry run).
type Action struct {
	// Verb is what was done: one of actionVerbs (wire.go), listed in
	// docs/report.md.
	Verb string `json:"action"`
	// Target is what it was done to: a path, a package, a service.
	Target string `json:"target"`
	// Detail adds a version, a count or a reason.
	Detail string `json:"detail,omitempty"`
}

// Check is the outcome of one verify check.
type Check struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
}

// Finding is one problem a checking step (secret_scan, audit) found. It
// names a check or rule and a path or name, never a secret.
type Finding struct {
	// Check is the audit check or secret rule that found it.
	Check string `json:"check"`
	// Target is the path, user, setting or service concerned.
	Target string `json:"target"`
	// Detail says what is wrong, when the check alone does not.
	Detail string `json:"detail,omitempty"`
}

// The verdicts of a report.
const (
	VerdictClean       = "clean"       // the audit ran and found nothing
	VerdictFindings    = "findings"    // the audit found something
	VerdictNotAudited  = "not-audited" // the audit step did not run (to its end)
	VerdictDryRunAudit = "dry-run"     // a dry run: the audit judged an uncleaned guest
)

// StepResult is what one step did. It holds paths, names and counts only,
// never file contents or secrets.
type StepResult struct {
	Name            string  `json:"name"`
	Title           string  `json:"title"`
	Status          Status  `json:"status" jsonschema:"enum=ok,enum=changed,enum=would-change,enum=skipped,enum=failed"`
	DurationSeconds float64 `json:"duration_seconds"`
	// GuestSeconds is the part of DurationSeconds the guest itself spent
	// running the step's scripts (their start and end on the guest's clock);
	// the rest is the connection, the plugin and any reboot.
	GuestSeconds float64        `json:"guest_seconds"`
	Actions      []Action       `json:"actions"`
	Counts       map[string]int `json:"counts,omitempty"`
	Checks       []Check        `json:"checks,omitempty"`
	Findings     []Finding      `json:"findings,omitempty"`
	Info         []string       `json:"info,omitempty"`
	Warnings     []string       `json:"warnings,omitempty"`
	SkipReason   string         `json:"skip_reason,omitempty"`
	Error        string         `json:"error,omitempty"`

	rebootReason string
}

// fail marks the step failed, keeping every reason.
func (r *StepResult) fail(reason string) {
	r.Status = StatusFailed
	if r.Error == "" {
		r.Error = reason
	} else {
		r.Error += "\n" + reason
	}
}

// GuestFacts describe the guest the checklist ran on.
type GuestFacts struct {
	OSID          string            `json:"os_id"`
	OSVersionID   string            `json:"os_version_id"`
	OSPrettyName  string            `json:"os_pretty_name"`
	KernelBefore  string            `json:"kernel_before"`
	KernelAfter   string            `json:"kernel_after"`
	BootIDs       []string          `json:"boot_ids"`
	User          string            `json:"user"`
	UsedSudo      bool              `json:"used_sudo"`
	Detected      map[string]string `json:"detected,omitempty"`
	Reboots       int               `json:"reboots"`
	RebootReasons []string          `json:"reboot_reasons,omitempty"`
}

// Report is the JSON report the plugin writes on the machine running Packer.
// Its schema is documented in docs/report.md.
type Report struct {
	SchemaVersion int       `json:"schema_version"`
	Plugin        string    `json:"plugin"`
	Build         string    `json:"build,omitempty"`
	DryRun        bool      `json:"dry_run"`
	Started       time.Time `json:"started"`
	Finished      time.Time `json:"finished"`
	// Status is the run's: succeeded or failed.
	Status string `json:"status" jsonschema:"enum=succeeded,enum=failed"`
	// Verdict is the audit's: clean, findings, not-audited or dry-run.
	Verdict string `json:"verdict" jsonschema:"enum=clean,enum=findings,enum=not-audited,enum=dry-run"`
	// Error is why the run failed (the build's error), when it did.
	Error string `json:"error,omitempty"`
	// Findings are those of every checking step (secret_scan, audit).
	Findings []Finding    `json:"findings"`
	Guest    GuestFacts   `json:"guest"`
	Steps    []StepResult `json:"steps"`
}

// changes counts the actions of every step.
func (r *Report) changes() int {
	n := 0
	for _, s := range r.Steps {
		n += len(s.Actions)
	}
	return n
}

// summary renders the closing table.
func (r *Report) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-16s %-13s %9s %8s %8s\n", "STEP", "STATUS", "DURATION", "CHANGES", "WARNINGS")
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "%-16s %-13s %8.1fs %8d %8d\n", s.Name, s.Status, s.DurationSeconds, len(s.Actions), len(s.Warnings))
	}
	verb := "changed"
	if r.DryRun {
		verb = "would change"
	}
	fmt.Fprintf(&b, "%s: %d %s, %d reboot(s), verdict %s (%d finding(s))", r.Status, r.changes(), verb+" item(s)", r.Guest.Reboots, r.Verdict, len(r.Findings))
	return b.String()
}

// writeJSON writes the report to path, creating its directory.
func (r *Report) writeJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, append(data, '\n'))
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     float64      `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// JUnit class names: the run's own cases (each step, the run, the verdict)
// and one case per finding.
const (
	junitClass        = "ami-hygiene"
	junitFindingClass = "ami-hygiene.findings"
)

// writeJUnit writes the results as JUnit XML for CI views: one test case per
// step; a case "run" that fails when the run failed outside any step (before
// the first, between two), saying why; a case "verdict" that fails on
// findings and is skipped when the audit did not judge; and one failing case
// per finding (also when on_finding = "warn": a finding is never green).
func (r *Report) writeJUnit(path string) error {
	suite := junitSuite{Name: "ami-hygiene"}
	if r.Build != "" {
		suite.Name += " " + r.Build
	}
	add := func(c junitCase) {
		switch {
		case c.Failure != nil:
			suite.Failures++
		case c.Skipped != nil:
			suite.Skipped++
		}
		suite.Tests++
		suite.Time += c.Time
		suite.Cases = append(suite.Cases, c)
	}
	stepFailed := false
	for _, s := range r.Steps {
		c := junitCase{Name: s.Name, Classname: junitClass, Time: s.DurationSeconds}
		var out []string
		for _, a := range s.Actions {
			out = append(out, strings.TrimSpace(a.Verb+" "+a.Target+" "+a.Detail))
		}
		for _, w := range s.Warnings {
			out = append(out, "warning: "+w)
		}
		for _, f := range s.Findings {
			out = append(out, "finding: "+f.String())
		}
		c.SystemOut = strings.Join(out, "\n")
		switch s.Status {
		case StatusFailed:
			c.Failure = &junitMessage{Message: firstLine(s.Error), Text: s.Error}
			stepFailed = true
		case StatusSkipped:
			c.Skipped = &junitMessage{Message: s.SkipReason}
		}
		add(c)
	}
	if r.Status == "failed" && !stepFailed {
		why := r.Error
		if why == "" {
			why = "the run failed outside any step"
		}
		add(junitCase{Name: "run", Classname: junitClass, Failure: &junitMessage{Message: firstLine(why), Text: why}})
	}
	verdict := junitCase{Name: "verdict", Classname: junitClass, SystemOut: "verdict " + r.Verdict}
	switch r.Verdict {
	case VerdictClean:
	case VerdictFindings:
		why := fmt.Sprintf("findings: %d finding(s)", len(r.Findings))
		verdict.Failure = &junitMessage{Message: why, Text: why}
	case VerdictDryRunAudit:
		verdict.Skipped = &junitMessage{Message: "dry run: the audit judged a guest the cleaning steps did not change"}
	default:
		verdict.Skipped = &junitMessage{Message: "not audited: the audit step did not run to its judgement"}
	}
	add(verdict)
	for _, f := range r.Findings {
		line := f.String()
		add(junitCase{Name: strings.TrimSpace(f.Check + " " + f.Target), Classname: junitFindingClass,
			Failure: &junitMessage{Message: line, Text: line}})
	}
	doc := junitSuites{Name: "ami-hygiene", Tests: suite.Tests, Failures: suite.Failures,
		Skipped: suite.Skipped, Time: suite.Time, Suites: []junitSuite{suite}}
	data, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, append([]byte(xml.Header), append(data, '\n')...))
}

// writeFile writes a report file readable by its owner only (0600, also
// when the file was there before): it names the guest's paths, users and
// findings.
func writeFile(path string, data []byte) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// String renders a finding as one line.
func (f Finding) String() string {
	return strings.TrimSpace(f.Check + ": " + f.Target + " " + f.Detail)
}
