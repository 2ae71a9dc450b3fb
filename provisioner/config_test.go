package provisioner

import (
	"strings"
	"testing"
)

func prepare(raw map[string]interface{}) (*Provisioner, error) {
	p := &Provisioner{}
	return p, p.Prepare(raw)
}

func TestPrepareDefaults(t *testing.T) {
	p, err := prepare(map[string]interface{}{})
	if err != nil {
		t.Fatal(err)
	}
	c := p.config
	if got := strings.Join(planNames(p.plan), ","); got != strings.Join(stepNames(), ",") {
		t.Errorf("plan %s, want every step", got)
	}
	checks := []struct{ name, got, want string }{
		{"reboot", c.UpdatePackages.Reboot, "if-required"},
		{"on_timeout", c.MailQueue.OnTimeout, "fail"},
		{"boot_timeout", c.WaitForBoot.bootTimeout.String(), "15m0s"},
		{"reboot_timeout", c.UpdatePackages.rebootTimeout.String(), "15m0s"},
		{"flush_timeout", c.MailQueue.flushTimeout.String(), "5m0s"},
		{"report_path", c.ReportPath, "ami-hygiene-report.json"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
}

func planNames(plan []stepDef) []string {
	var out []string
	for _, s := range plan {
		out = append(out, s.Name)
	}
	return out
}

func TestPreparePlanKeepsTheFixedOrder(t *testing.T) {
	for _, tc := range []struct {
		raw  map[string]interface{}
		want string
	}{
		{map[string]interface{}{"steps": []string{"authorized_keys", "wait_for_boot", "shell_history"}}, "wait_for_boot,shell_history,authorized_keys"},
		{map[string]interface{}{"skip_steps": []string{"update_packages", "verify"}}, "wait_for_boot,stop_services,mail_queue,shell_history,credentials,authorized_keys"},
	} {
		p, err := prepare(tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(planNames(p.plan), ","); got != tc.want {
			t.Errorf("plan %s, want %s", got, tc.want)
		}
	}
}

func TestPrepareReportNameCarriesTheBuild(t *testing.T) {
	p, err := prepare(map[string]interface{}{"packer_build_name": "amazon-ebs.ubuntu"})
	if err != nil {
		t.Fatal(err)
	}
	if p.config.ReportPath != "ami-hygiene-report-amazon-ebs.ubuntu.json" {
		t.Errorf("report_path = %q", p.config.ReportPath)
	}
}

// TestPrepareRejectsBadInput: every problem is found at once, each naming
// its attribute.
func TestPrepareRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  map[string]interface{}
		want []string
	}{
		{"unknown step", map[string]interface{}{"steps": []string{"wait_for_boot", "nope"}}, []string{`steps[1]: unknown step "nope"`}},
		{"duplicate step", map[string]interface{}{"skip_steps": []string{"verify", "verify"}}, []string{"skip_steps[1]"}},
		{"steps and skip_steps", map[string]interface{}{"steps": []string{"verify"}, "skip_steps": []string{"credentials"}}, []string{"skip_steps: cannot be combined"}},
		{"bad duration", map[string]interface{}{"wait_for_boot": map[string]interface{}{"boot_timeout": "soon"}}, []string{`wait_for_boot.boot_timeout: "soon" is not a duration`}},
		{"negative duration", map[string]interface{}{"mail_queue": map[string]interface{}{"flush_timeout": "-5m"}}, []string{"mail_queue.flush_timeout", "negative"}},
		{"zero boot timeout", map[string]interface{}{"wait_for_boot": map[string]interface{}{"boot_timeout": "0s"}}, []string{"wait_for_boot.boot_timeout: must be more than 0s"}},
		{"reboot mode", map[string]interface{}{"update_packages": map[string]interface{}{"reboot": "sometimes"}}, []string{`update_packages.reboot: "sometimes" is not allowed; use one of "always", "if-required", "never"`}},
		{"on_timeout", map[string]interface{}{"mail_queue": map[string]interface{}{"on_timeout": "ignore"}}, []string{"mail_queue.on_timeout"}},
		{"bad regex", map[string]interface{}{"verify": []map[string]interface{}{{"command": "true", "expect_output": "("}}}, []string{"verify[0].expect_output", "RE2"}},
		{"missing command", map[string]interface{}{"verify": []map[string]interface{}{{"name": "x"}}}, []string{"verify[0].command: is required"}},
		{"exit code", map[string]interface{}{"verify": []map[string]interface{}{{"command": "true", "expect_exit_code": 300}}}, []string{"verify[0].expect_exit_code"}},
		{"as_user", map[string]interface{}{"verify": []map[string]interface{}{{"command": "true", "as_user": "root; id"}}}, []string{"verify[0].as_user"}},
		{"service injection", map[string]interface{}{"stop_services": map[string]interface{}{"services": []string{"nginx; rm -rf /"}}}, []string{"stop_services.services[0]"}},
		{"service option", map[string]interface{}{"stop_services": map[string]interface{}{"services": []string{"--all"}}}, []string{"stop_services.services[0]", "starts with '-'"}},
		{"service newline", map[string]interface{}{"stop_services": map[string]interface{}{"services": []string{"a\nb"}}}, []string{"stop_services.services[0]", "control character"}},
		{"relative path", map[string]interface{}{"credentials": map[string]interface{}{"paths": []string{"home/x"}}}, []string{"credentials.paths[0]", "not an absolute path"}},
		{"dotdot path", map[string]interface{}{"credentials": map[string]interface{}{"paths": []string{"/srv/../etc"}}}, []string{"credentials.paths[0]", "not a clean path"}},
		{"system path", map[string]interface{}{"credentials": map[string]interface{}{"paths": []string{"/etc"}}}, []string{"credentials.paths[0]", "system directory"}},
		{"glob path", map[string]interface{}{"credentials": map[string]interface{}{"paths": []string{"/srv/*"}}}, []string{"credentials.paths[0]", "glob"}},
		{"escaping pattern", map[string]interface{}{"shell_history": map[string]interface{}{"extra_patterns": []string{"../../etc/passwd"}}}, []string{"shell_history.extra_patterns[0]", "leaves the home"}},
		{"match-all pattern", map[string]interface{}{"shell_history": map[string]interface{}{"extra_patterns": []string{".*"}}}, []string{"shell_history.extra_patterns[0]", "every file"}},
		{"keep_users", map[string]interface{}{"authorized_keys": map[string]interface{}{"keep_users": []string{"$(id)"}}}, []string{"authorized_keys.keep_users[0]"}},
		{"report dir", map[string]interface{}{"report_path": "reports/"}, []string{"report_path"}},
		{"all at once", map[string]interface{}{
			"steps":           []string{"bogus"},
			"update_packages": map[string]interface{}{"reboot": "no"},
			"stop_services":   map[string]interface{}{"services": []string{"a b"}},
		}, []string{"steps[0]", "update_packages.reboot", "stop_services.services[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := prepare(tc.raw)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestPrepareAcceptsUnknownValues(t *testing.T) {
	// HCL2 passes "<unknown>" for values not known at validate time.
	_, err := prepare(map[string]interface{}{
		"steps":         []string{unknown},
		"wait_for_boot": map[string]interface{}{"boot_timeout": unknown},
		"stop_services": map[string]interface{}{"services": []string{unknown}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestVerifyCommandIsNotATemplate(t *testing.T) {
	p, err := prepare(map[string]interface{}{"verify": []map[string]interface{}{{"command": "echo '{{ .Name }}'"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.config.Verify[0].Command; got != "echo '{{ .Name }}'" {
		t.Errorf("command = %q: interpolated", got)
	}
}
