package provisioner

import (
	"errors"
	"strings"
	"testing"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
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
		{"reboot_timeout", p.options.rebootTimeout.String(), "15m0s"},
		{"flush_timeout", c.MailQueue.flushTimeout.String(), "5m0s"},
		{"report_path", p.options.reportPath, "ami-hygiene-report.json"},
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
		{map[string]interface{}{"skip_steps": []string{"update_packages", "verify", "logs", "caches"}}, "wait_for_boot,stop_services,mail_queue,machine_identity,access_policy,shell_history,credentials,authorized_keys,secret_scan,free_space,final_shutdown,audit"},
		{map[string]interface{}{"steps": []string{"audit", "secret_scan", "machine_identity"}}, "machine_identity,secret_scan,audit"},
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

// TestPrepareReportNameCarriesTheBuild: Packer gives a provisioner the
// source's name alone (PACKER_BUILD_NAME is "ubuntu" for
// source.amazon-ebs.ubuntu; a legacy JSON builder's name defaults to its
// type): the report carries the build as Packer prints it, so that two
// sources of the same name and different builders write two reports.
func TestPrepareReportNameCarriesTheBuild(t *testing.T) {
	for _, tc := range []struct{ name, builder, build, path string }{
		{"ubuntu", "amazon-ebs", "amazon-ebs.ubuntu", "ami-hygiene-report-amazon-ebs.ubuntu.json"},
		{"ubuntu", "googlecompute", "googlecompute.ubuntu", "ami-hygiene-report-googlecompute.ubuntu.json"},
		{"amazon-ebs", "amazon-ebs", "amazon-ebs", "ami-hygiene-report-amazon-ebs.json"},
		{"amazon-ebs.ubuntu", "amazon-ebs", "amazon-ebs.ubuntu", "ami-hygiene-report-amazon-ebs.ubuntu.json"},
		{"guest", "", "guest", "ami-hygiene-report-guest.json"},
		{"", "", "", "ami-hygiene-report.json"},
		{"../../etc/x y", "null", "null.../../etc/x y", "ami-hygiene-report-null...-..-etc-x-y.json"},
	} {
		p, err := prepare(map[string]interface{}{"packer_build_name": tc.name, "packer_builder_type": tc.builder})
		if err != nil {
			t.Fatal(err)
		}
		if p.options.build != tc.build || p.options.reportPath != tc.path {
			t.Errorf("%q of %q: build %q, report_path %q; want %q, %q", tc.name, tc.builder,
				p.options.build, p.options.reportPath, tc.build, tc.path)
		}
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
		{"match-all pattern", map[string]interface{}{"shell_history": map[string]interface{}{"extra_patterns": []string{".*"}}}, []string{"shell_history.extra_patterns[0]", "does not name a file"}},
		{"keep_users", map[string]interface{}{"authorized_keys": map[string]interface{}{"keep_users": []string{"$(id)"}}}, []string{"authorized_keys.keep_users[0]"}},
		{"report dir", map[string]interface{}{"report_path": "reports/"}, []string{"report_path"}},
		{"logs exclude outside /var/log", map[string]interface{}{"logs": map[string]interface{}{"exclude": []string{"/etc/*"}}}, []string{"logs.exclude[0]", `under "/var/log/"`}},
		{"logs exclude dotdot", map[string]interface{}{"logs": map[string]interface{}{"exclude": []string{"/var/log/../etc"}}}, []string{"logs.exclude[0]", `".."`}},
		{"caches exclude", map[string]interface{}{"caches": map[string]interface{}{"exclude": []string{"tmp/x"}}}, []string{"caches.exclude[0]", `"/tmp/", "/var/tmp/"`}},
		{"permit_root_login", map[string]interface{}{"access_policy": map[string]interface{}{"permit_root_login": "yes"}}, []string{`access_policy.permit_root_login: "yes" is not allowed`}},
		{"scan path", map[string]interface{}{"secret_scan": map[string]interface{}{"paths": []string{"etc"}}}, []string{"secret_scan.paths[0]", "not an absolute path"}},
		{"scan glob", map[string]interface{}{"secret_scan": map[string]interface{}{"paths": []string{"/home/*"}}}, []string{"secret_scan.paths[0]", "glob"}},
		{"allow relative", map[string]interface{}{"secret_scan": map[string]interface{}{"allow": []string{"*.pem"}}}, []string{"secret_scan.allow[0]", "absolute pattern"}},
		{"max_file_size", map[string]interface{}{"secret_scan": map[string]interface{}{"max_file_size": "1 MB"}}, []string{`secret_scan.max_file_size: "1 MB" is not a size`}},
		{"max_file_size zero", map[string]interface{}{"secret_scan": map[string]interface{}{"max_file_size": "0"}}, []string{"secret_scan.max_file_size", "too small"}},
		{"on_finding", map[string]interface{}{"audit": map[string]interface{}{"on_finding": "ignore"}}, []string{`audit.on_finding: "ignore" is not allowed`}},
		{"free_space mode", map[string]interface{}{"free_space": map[string]interface{}{"mode": "shred"}}, []string{`free_space.mode: "shred" is not allowed; use one of "sparse", "zero", "discard", "both"`}},
		{"free_space paths", map[string]interface{}{"free_space": map[string]interface{}{"paths": []string{"var", "/srv/*"}}}, []string{`free_space.paths[0]: "var" is not an absolute path`, `free_space.paths[1]: "/srv/*" contains glob characters`}},
		{"final_shutdown remove_users", map[string]interface{}{"final_shutdown": map[string]interface{}{"remove_users": []string{"root", "-x"}}}, []string{`final_shutdown.remove_users[0]: root cannot be removed`, `final_shutdown.remove_users[1]: "-x" is not a user name`}},
		{"skip_checks", map[string]interface{}{"audit": map[string]interface{}{"skip_checks": []string{"everything"}}}, []string{`audit.skip_checks[0]: "everything" is not allowed`}},
		{"audit allow relative", map[string]interface{}{"audit": map[string]interface{}{"allow": []string{"testdata/*", "/"}}}, []string{"audit.allow[0]", "audit.allow[1]", "absolute pattern"}},
		{"audit services", map[string]interface{}{"audit": map[string]interface{}{"services": []string{"$(reboot)"}}}, []string{"audit.services[0]"}},
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

func TestPrepareCloneSafeDefaults(t *testing.T) {
	p, err := prepare(map[string]interface{}{
		"stop_services": map[string]interface{}{"services": []string{"nginx"}},
		"secret_scan":   map[string]interface{}{"max_file_size": "512k"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := p.config
	if strings.Join(c.Audit.Services, ",") != "nginx" || c.Audit.OnFinding != "fail" {
		t.Errorf("audit defaults: services %v, on_finding %q", c.Audit.Services, c.Audit.OnFinding)
	}
	if c.SecretScan.maxBytes != 512<<10 || len(c.SecretScan.Paths) != 7 {
		t.Errorf("secret_scan defaults: %d bytes, paths %v", c.SecretScan.maxBytes, c.SecretScan.Paths)
	}
	if c.AccessPolicy.PermitRootLogin != "prohibit-password" {
		t.Errorf("permit_root_login %q", c.AccessPolicy.PermitRootLogin)
	}
	env := map[string]string{}
	for _, set := range []stepConfig{&c.MachineIdentity, &c.AccessPolicy} {
		for _, e := range set.env() {
			env[e.Name] = e.Value
		}
	}
	for name, want := range map[string]string{"AMIH_REMOVE_HOST_KEYS": "1", "AMIH_CLOUD_INIT_CLEAN": "1", "AMIH_ENSURE_HOST_KEYS": "0",
		"AMIH_RESET_HOSTNAME": "0", "AMIH_LOCK_ROOT": "1", "AMIH_LOCK_EMPTY": "1", "AMIH_SSHD": "1"} {
		if env[name] != want {
			t.Errorf("%s = %q, want %q", name, env[name], want)
		}
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

// TestRebootTimeoutHasOneOwner (issue 24): the run-wide reboot_timeout
// bounds every reboot; update_packages.reboot_timeout, which it replaces,
// still works with a deprecation, and both at once is an error naming the
// old one.
func TestRebootTimeoutHasOneOwner(t *testing.T) {
	for _, c := range []struct {
		name       string
		raw        map[string]interface{}
		want       time.Duration
		deprecated bool
		err        string
	}{
		{"default", map[string]interface{}{}, 15 * time.Minute, false, ""},
		{"run-wide", map[string]interface{}{"reboot_timeout": "20s"}, 20 * time.Second, false, ""},
		{"deprecated", map[string]interface{}{"update_packages": map[string]interface{}{"reboot_timeout": "30s"}}, 30 * time.Second, true, ""},
		{"both", map[string]interface{}{"reboot_timeout": "20s", "update_packages": map[string]interface{}{"reboot_timeout": "30s"}}, 0, false,
			"update_packages.reboot_timeout: is replaced by the top-level reboot_timeout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := prepare(c.raw)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.options.rebootTimeout != c.want {
				t.Errorf("reboot timeout %s, want %s", p.options.rebootTimeout, c.want)
			}
			if got := len(p.options.deprecations) > 0; got != c.deprecated {
				t.Errorf("deprecations %v", p.options.deprecations)
			}
		})
	}
}

// TestPrepareOneErrorPerMistake (issue 36, item 7): each mistake is said
// once, naming its attribute, and a blank command is a mistake (a check
// that runs nothing always passes).
func TestPrepareOneErrorPerMistake(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  map[string]interface{}
		want string
	}{
		{"wait not a duration", map[string]interface{}{"reboot_timeout": "5 minutes"}, `reboot_timeout: "5 minutes" is not a duration`},
		{"wait negative", map[string]interface{}{"wait_for_boot": map[string]interface{}{"boot_timeout": "-1m"}}, "wait_for_boot.boot_timeout"},
		{"step timeout", map[string]interface{}{"step_timeouts": map[string]interface{}{"logs": "ten"}}, `step_timeouts.logs: "ten" is not a duration`},
		{"blank command", map[string]interface{}{"verify": []map[string]interface{}{{"command": "   "}}}, "verify[0].command: is blank"},
		{"blank command with newlines", map[string]interface{}{"verify": []map[string]interface{}{{"command": " \n\t\n"}}}, "verify[0].command: is blank"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := prepare(tc.raw)
			if err == nil {
				t.Fatal("accepted")
			}
			var me *packersdk.MultiError
			if !errors.As(err, &me) {
				t.Fatalf("%T: %v", err, err)
			}
			if len(me.Errors) != 1 || !strings.Contains(me.Errors[0].Error(), tc.want) {
				t.Errorf("%d error(s) %q, want one containing %q", len(me.Errors), err, tc.want)
			}
		})
	}
}
