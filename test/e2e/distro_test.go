//go:build e2e

package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// TestDistributionCases: what current distributions do differently, on the
// real guest (issue 16): a cloud-init module that fails (the seed's runcmd
// exits 1, so cloud-init reports its scripts-user module), an image whose
// own policy says `PermitRootLogin no`, and a guest whose cloud-init is
// disabled, so that nothing would make new host keys.
func TestDistributionCases(t *testing.T) {
	bed := NewBed(t, "cases", "runcmd:\n  - [\"false\"]\n")

	// cloud_init_errors = "fail" (the default): the build stops at
	// wait_for_boot and shows what cloud-init itself says.
	failed := bed.Build(Template{Hygiene: `    steps = ["wait_for_boot"]`}, streamTo())
	if failed.Err == nil || !regexp.MustCompile(`cloud-init failed in module\(s\) scripts[-_]user`).MatchString(failed.Output) ||
		!strings.Contains(failed.Output, "cloud-init: ") {
		t.Errorf("a failed cloud-init module: err %v\n%s", failed.Err, TailLines(failed.Output, 20))
	}

	// "warn" goes on; the image's own PermitRootLogin no stays no.
	warned := bed.MustBuild(Template{
		AfterDirty: []string{"printf 'PermitRootLogin no\\n' > /etc/ssh/sshd_config.d/10-site.conf"},
		Hygiene: `    steps = ["wait_for_boot", "access_policy"]
    wait_for_boot { cloud_init_errors = "warn" }
    access_policy { lock_root_password = false }`,
	})
	if !strings.Contains(warned.Output, `going on: cloud_init_errors = "warn"`) {
		t.Errorf("cloud_init_errors = warn did not say it went on:\n%s", TailLines(warned.Output, 20))
	}
	state := bed.Inspect(`sshd -T 2>/dev/null | awk '$1 == "permitrootlogin" || $1 == "passwordauthentication" { print $1 "=" $2 }'
true`)
	if first(state, "permitrootlogin") != "no" || first(state, "passwordauthentication") != "no" {
		t.Errorf("sshd -T after access_policy: PermitRootLogin %q (the image said no), PasswordAuthentication %q",
			first(state, "permitrootlogin"), first(state, "passwordauthentication"))
	}

	// cloud-init disabled: nothing makes host keys at boot, so
	// machine_identity refuses and the keys stay.
	refused := bed.Build(Template{
		AfterDirty: []string{"touch /etc/cloud/cloud-init.disabled"},
		Hygiene:    `    steps = ["machine_identity"]`,
	}, streamTo())
	if refused.Err == nil || !strings.Contains(refused.Output, "nothing on this image would generate SSH host keys at boot") {
		t.Errorf("machine_identity with cloud-init disabled: err %v\n%s", refused.Err, TailLines(refused.Output, 20))
	}
	keys := bed.Inspect(`echo "keys=$(ls /etc/ssh/ssh_host_*_key 2>/dev/null | wc -l)"
true`)
	if atoi(first(keys, "keys")) == 0 {
		t.Errorf("the host keys were removed with nothing to make new ones")
	}
}
