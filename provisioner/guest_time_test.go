package provisioner

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// TestCompletionRecordCarriesGuestTime: lib.sh's completion record carries
// the guest's uptime at the script's start and end, under dash and busybox
// ash, whatever the script's own exit.
func TestCompletionRecordCarriesGuestTime(t *testing.T) {
	for _, sh := range shells(t) {
		for _, body := range []string{"sleep 1", "sleep 1; exit 3", "sleep 1; fail 'stop here'"} {
			out, _ := sh.output(scriptText("lib.sh") + "\n" + body + "\n")
			var done record
			for _, line := range strings.Split(out, "\n") {
				if r, ok := parseRecord(line); ok && r.Kind == "done" {
					done = r
				}
			}
			start, err1 := strconv.ParseFloat(done.field(2), 64)
			end, err2 := strconv.ParseFloat(done.field(3), 64)
			if err1 != nil || err2 != nil || end-start < 0.9 || end-start > 30 {
				t.Errorf("%s, %q: completion record %q: want two uptimes about 1 s apart", sh.name, body, out)
			}
		}
	}
}

func TestGuestSpan(t *testing.T) {
	limit := time.Minute
	for _, tc := range []struct {
		start, end string
		want       time.Duration
	}{
		{"100.25", "102.75", 2500 * time.Millisecond},
		{"7.00", "7.00", 0},
		{"", "", 0},         // no /proc/uptime
		{"5.00", "1.00", 0}, // backwards
		{"-3", "1", 0},      // negative
		{"1", "1e300", 0},   // past the script's deadline
		{"NaN", "NaN", 0},   // not a time
		{"1", "Inf", 0},     // not a time
		{"0x10", "0x20", 0}, // not a decimal reading
		{"1.0\n", "2.0", 0}, // not a bare number
		{"10", "70", time.Minute},
	} {
		got := guestSpan(tc.start, tc.end, limit)
		if math.Abs(float64(got-tc.want)) > float64(time.Millisecond) {
			t.Errorf("guestSpan(%q, %q) = %s, want %s", tc.start, tc.end, got, tc.want)
		}
	}
}

// TestReportGuestSeconds: each step's guest_seconds is its scripts' own
// time on the guest, from their completion records; a record without the
// readings counts nothing.
func TestReportGuestSeconds(t *testing.T) {
	g := &fakeGuest{}
	comm := &fakeComm{reply: func(c fakeCall, n int) (string, int) {
		switch stepOf(c) {
		case "shell_history":
			return "amih:change\tremove\t/root/.bash_history\namih:done\t" + tokenOf(c) + "\t0\t100.50\t103.00\n", 0
		case "credentials":
			return "amih:done\t" + tokenOf(c) + "\t0\n", 0
		}
		return g.reply(c, n)
	}}
	dir := t.TempDir()
	p := &Provisioner{}
	if err := p.Prepare(map[string]interface{}{"steps": []string{"shell_history", "credentials"}, "report_path": filepath.Join(dir, "r.json")}); err != nil {
		t.Fatal(err)
	}
	if err := p.Provision(context.Background(), packersdk.TestUi(t), comm, nil); err != nil {
		t.Fatal(err)
	}
	var rep Report
	data, _ := os.ReadFile(filepath.Join(dir, "r.json"))
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"shell_history": 2.5, "credentials": 0}
	for _, s := range rep.Steps {
		if w, ok := want[s.Name]; ok {
			delete(want, s.Name)
			if math.Abs(s.GuestSeconds-w) > 0.001 {
				t.Errorf("%s: guest_seconds %v, want %v", s.Name, s.GuestSeconds, w)
			}
		}
	}
	for name := range want {
		t.Errorf("%s is missing from the report", name)
	}
}
