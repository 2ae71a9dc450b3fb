package provisioner

import "testing"

func TestScriptsVerify(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		res := g.run("verify.sh",
			envVar{"AMIH_CHECK_COUNT", "2"},
			envVar{"AMIH_CHECK_1_COMMAND", "echo 'it'\"'\"'s'; echo \"$((1+1))\" >&2"},
			envVar{"AMIH_CHECK_1_TIMEOUT", "10"},
			envVar{"AMIH_CHECK_2_COMMAND", "exit 3"},
			envVar{"AMIH_CHECK_2_TIMEOUT", "10"},
		)
		outputs := res.kind("output")
		if res.code != 0 || len(outputs) != 2 || outputs[0].field(1) != "it's\n2" {
			t.Fatalf("code %d, outputs %q\n%s", res.code, outputs, res.other)
		}
		if n, _ := res.count("exit_2"); n != "3" {
			t.Errorf("exit_2 = %q", n)
		}
	})
}
