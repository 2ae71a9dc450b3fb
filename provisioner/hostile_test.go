package provisioner

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// moreHostile adds to hostileStrings what targets paths, globs, options and
// sizes in particular.
var moreHostile = []string{
	"/etc/passwd", "/", "/srv/app/../../etc", "./x", "x/..", "//etc", "/tmp/*", "/srv/app/[ab]", "{a,b}",
	"-", "--", "-o", "--version", "nginx.service; reboot", "nginx\nreboot", "nginx\x00x", "a b c",
	"$(touch /tmp/amih-marker)", "`touch /tmp/amih-marker`", "'; touch /tmp/amih-marker; '",
	"\"; touch /tmp/amih-marker; \"", "${IFS}", strings.Repeat("a", 5000), "\xff\xfe", "..",
}

// TestHostileInputEveryField: every hostile string in every user field is
// either rejected by Prepare with a message naming the field, or reaches the
// guest script literally, as data (checked by evaluating the script's input
// exports in dash).
func TestHostileInputEveryField(t *testing.T) {
	all := append(append([]string{}, hostileStrings...), moreHostile...)
	if len(all) < 50 {
		t.Fatalf("only %d hostile strings", len(all))
	}
	type field struct {
		attr, step, env string
		raw             func(s string) map[string]interface{}
		prefix          string // put before each hostile string
	}
	fields := []field{
		{"stop_services.services[0]", "stop_services", "AMIH_SERVICES", func(s string) map[string]interface{} {
			return map[string]interface{}{"stop_services": map[string]interface{}{"services": []string{s}}}
		}, ""},
		{"credentials.paths[0]", "credentials", "AMIH_PATHS", func(s string) map[string]interface{} {
			return map[string]interface{}{"credentials": map[string]interface{}{"paths": []string{s}}}
		}, ""},
		{"shell_history.extra_patterns[0]", "shell_history", "AMIH_EXTRA_PATTERNS", func(s string) map[string]interface{} {
			return map[string]interface{}{"shell_history": map[string]interface{}{"extra_patterns": []string{s}}}
		}, ""},
		{"authorized_keys.keep_users[0]", "authorized_keys", "AMIH_KEEP_USERS", func(s string) map[string]interface{} {
			return map[string]interface{}{"authorized_keys": map[string]interface{}{"keep_users": []string{s}}}
		}, ""},
		{"verify[0].as_user", "verify", "AMIH_CHECK_1_AS_USER", func(s string) map[string]interface{} {
			return map[string]interface{}{"verify": []map[string]interface{}{{"command": "true", "as_user": s}}}
		}, ""},
		{"verify[0].command", "verify", "AMIH_CHECK_1_COMMAND", func(s string) map[string]interface{} {
			return map[string]interface{}{"verify": []map[string]interface{}{{"command": s}}}
		}, ""},
		{"verify[0].expect_output", "", "", func(s string) map[string]interface{} {
			return map[string]interface{}{"verify": []map[string]interface{}{{"command": "true", "expect_output": s}}}
		}, ""},
		{"steps[0]", "", "", func(s string) map[string]interface{} {
			return map[string]interface{}{"steps": []string{s}}
		}, ""},
		{"logs.exclude[0]", "logs", "AMIH_EXCLUDE", func(s string) map[string]interface{} {
			return map[string]interface{}{"logs": map[string]interface{}{"exclude": []string{s}}}
		}, "/var/log/"},
		{"caches.exclude[0]", "caches", "AMIH_EXCLUDE", func(s string) map[string]interface{} {
			return map[string]interface{}{"caches": map[string]interface{}{"exclude": []string{s}}}
		}, "/tmp/"},
		{"secret_scan.paths[0]", "secret_scan", "AMIH_PATHS", func(s string) map[string]interface{} {
			return map[string]interface{}{"secret_scan": map[string]interface{}{"paths": []string{s}}}
		}, ""},
		{"secret_scan.allow[0]", "secret_scan", "AMIH_ALLOW", func(s string) map[string]interface{} {
			return map[string]interface{}{"secret_scan": map[string]interface{}{"allow": []string{s}}}
		}, "/opt/"},
		{"secret_scan.max_file_size", "", "", func(s string) map[string]interface{} {
			return map[string]interface{}{"secret_scan": map[string]interface{}{"max_file_size": s}}
		}, ""},
		{"free_space.paths[0]", "free_space", "AMIH_PATHS", func(s string) map[string]interface{} {
			return map[string]interface{}{"free_space": map[string]interface{}{"paths": []string{s}}}
		}, ""},
		{"free_space.mode", "free_space", "AMIH_MODE", func(s string) map[string]interface{} {
			return map[string]interface{}{"free_space": map[string]interface{}{"mode": s}}
		}, ""},
		{"final_shutdown.remove_users[0]", "final_shutdown", "AMIH_REMOVE_USERS", func(s string) map[string]interface{} {
			return map[string]interface{}{"final_shutdown": map[string]interface{}{"remove_users": []string{s}}}
		}, ""},
		{"access_policy.permit_root_login", "access_policy", "AMIH_PERMIT_ROOT_LOGIN", func(s string) map[string]interface{} {
			return map[string]interface{}{"access_policy": map[string]interface{}{"permit_root_login": s}}
		}, ""},
		{"audit.services[0]", "audit", "AMIH_SERVICES", func(s string) map[string]interface{} {
			return map[string]interface{}{"audit": map[string]interface{}{"services": []string{s}}}
		}, ""},
		{"audit.allow[0]", "audit", "AMIH_ALLOW", func(s string) map[string]interface{} {
			return map[string]interface{}{"audit": map[string]interface{}{"allow": []string{s}}}
		}, "/opt/"},
		{"audit.skip_checks[0]", "", "", func(s string) map[string]interface{} {
			return map[string]interface{}{"audit": map[string]interface{}{"skip_checks": []string{s}}}
		}, ""},
	}
	accepted, rejected := 0, 0
	for _, f := range fields {
		for i, s := range all {
			s = f.prefix + s
			raw := f.raw(s)
			raw["report_path"] = filepath.Join(t.TempDir(), "r.json")
			p := &Provisioner{}
			err := p.Prepare(raw)
			if err != nil {
				rejected++
				if !strings.Contains(err.Error(), f.attr) {
					t.Errorf("%s = %q: rejected without naming the attribute: %v", f.attr, s, err)
				}
				continue
			}
			accepted++
			if f.step == "" {
				continue // validated only (a regex, a step name)
			}
			g := &fakeGuest{}
			comm := &fakeComm{reply: g.reply}
			p.plan = []stepDef{stepByName(f.step)}
			_ = p.Provision(context.Background(), packersdk.TestUi(t), comm, nil)
			body := ""
			for _, c := range comm.calls() {
				if stepOf(c) == f.step {
					body = c.Stdin
				}
				if strings.Contains(c.Command, "amih-marker") || strings.Contains(c.Command, s) && len(s) > 3 && s != "true" {
					t.Errorf("%s = %q: user text on a command line: %s", f.attr, s, c.Command)
				}
			}
			if got := exportedValue(t, body, f.env); got != s && s != "" { // "" is the default
				t.Errorf("#%d %s = %q reached the script as %q", i, f.attr, s, got)
			}
		}
	}
	t.Logf("%d hostile strings x %d fields: %d accepted and passed literally, %d rejected naming the field", len(all), len(fields), accepted, rejected)
}

func stepByName(name string) stepDef {
	for _, s := range catalogue {
		if s.Name == name {
			return s
		}
	}
	panic(name)
}

// exportedValue evaluates the input exports at the top of a script body
// (everything before lib.sh) in dash and returns the value of one variable.
func exportedValue(t *testing.T, body, name string) string {
	t.Helper()
	end := strings.Index(body, scriptText("lib.sh"))
	if end < 0 {
		t.Fatalf("no script body sent")
	}
	return runSh(t, body[:end]+fmt.Sprintf("printf '%%s' \"$%s\"", name))
}
