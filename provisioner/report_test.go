package provisioner

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// junitDoc is a JUnit reader of its own (not the writer's types): what a CI
// view reads of the file.
type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Skipped  int `xml:"skipped,attr"`
	Suites   []struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Cases    []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// failing lists "classname/name: message" of every failing case.
func (d junitDoc) failing() []string {
	var out []string
	for _, s := range d.Suites {
		for _, c := range s.Cases {
			if c.Failure != nil {
				out = append(out, c.Classname+"/"+c.Name+": "+c.Failure.Message)
			}
		}
	}
	return out
}

func readJUnit(t *testing.T, r *Report) junitDoc {
	t.Helper()
	path := filepath.Join(t.TempDir(), "junit.xml")
	if err := r.writeJUnit(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d junitDoc
	if err := xml.Unmarshal(data, &d); err != nil {
		t.Fatalf("not JUnit XML: %v\n%s", err, data)
	}
	return d
}

// TestJUnitShowsEveryFailure (issue 36, item 1): a run that failed before
// any step is a failing case that says why (never tests="0" failures="0"),
// the verdict is a case of its own, and each finding is a failing case.
func TestJUnitShowsEveryFailure(t *testing.T) {
	finding := Finding{Check: "ssh_keys", Target: "/root/.ssh/authorized_keys", Detail: "1 key"}
	for _, tc := range []struct {
		name    string
		report  Report
		failing []string // substrings, one per failing case, in order
		skipped int
	}{
		{"failed before any step", Report{Status: "failed", Verdict: VerdictNotAudited,
			Error: "ami-hygiene: the guest probe printed nothing"},
			[]string{"ami-hygiene/run: ami-hygiene: the guest probe printed nothing"}, 1},
		{"failed between steps", Report{Status: "failed", Verdict: VerdictNotAudited, Error: "context canceled",
			Steps: []StepResult{{Name: "wait_for_boot", Status: StatusOK}}},
			[]string{"ami-hygiene/run: context canceled"}, 1},
		{"a step failed", Report{Status: "failed", Verdict: VerdictNotAudited, Error: "ami-hygiene: step logs failed: x",
			Steps: []StepResult{{Name: "logs", Status: StatusFailed, Error: "x"}}},
			[]string{"ami-hygiene/logs: x"}, 1},
		{"findings", Report{Status: "failed", Verdict: VerdictFindings, Findings: []Finding{finding},
			Steps: []StepResult{{Name: "audit", Status: StatusFailed, Error: "1 finding(s)", Findings: []Finding{finding}}}},
			[]string{"ami-hygiene/audit: 1 finding(s)", "ami-hygiene/verdict: findings: 1 finding(s)", "ami-hygiene.findings/ssh_keys /root/.ssh/authorized_keys: ssh_keys: /root/.ssh/authorized_keys 1 key"}, 0},
		{"findings kept as warnings", Report{Status: "succeeded", Verdict: VerdictFindings, Findings: []Finding{finding},
			Steps: []StepResult{{Name: "audit", Status: StatusOK, Findings: []Finding{finding}}}},
			[]string{"ami-hygiene/verdict: findings", "ami-hygiene.findings/ssh_keys /root/.ssh/authorized_keys"}, 0},
		{"clean", Report{Status: "succeeded", Verdict: VerdictClean, Steps: []StepResult{{Name: "audit", Status: StatusOK}}}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := readJUnit(t, &tc.report)
			got := d.failing()
			if len(got) != len(tc.failing) {
				t.Fatalf("failing cases %q, want %d like %q", got, len(tc.failing), tc.failing)
			}
			for i, w := range tc.failing {
				if !strings.Contains(got[i], w) {
					t.Errorf("failing case %d = %q, want %q", i, got[i], w)
				}
			}
			if d.Failures != len(tc.failing) || d.Skipped != tc.skipped || d.Tests == 0 {
				t.Errorf("tests %d failures %d skipped %d; want failures %d skipped %d", d.Tests, d.Failures, d.Skipped, len(tc.failing), tc.skipped)
			}
			var verdict bool
			for _, c := range d.Suites[0].Cases {
				verdict = verdict || c.Name == "verdict"
			}
			if !verdict {
				t.Error("no verdict case")
			}
		})
	}
}
