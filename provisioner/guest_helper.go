package provisioner

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"
)

// The guest helper (cmd/ami-hygiene-guest) is a small static program for
// the system calls a POSIX sh cannot make (free_space: FIEMAP, direct reads
// of the device compared with zeros in memory). The plugin embeds it for
// linux/amd64 and linux/arm64 (guestbin/, built by `make guest-helper`),
// uploads it through the communicator as the SSH user before a step that
// uses it (stepDef.Helper), and gives the step its path and SHA-256; lib.sh
// helper_install copies it into a private folder of root on a tmpfs, checks
// the hash there and runs it from there. Where there is no helper for the
// guest, the upload fails or the copy does not run, the step does the same
// work in sh and says why.

//go:embed guestbin
var guestBin embed.FS

// guestHelperFiles holds the helper's builds, as guestbin/ami-hygiene-guest-linux-<arch>
// (tests put their own here).
var guestHelperFiles fs.FS = guestBin

// guestHelper is what a step script learns of the helper: where the plugin
// uploaded it and its SHA-256, or why there is none (lib.sh helper_install).
type guestHelper struct {
	path, sum, why string
}

func (h guestHelper) env() []envVar {
	return []envVar{{"AMIH_HELPER", h.path}, {"AMIH_HELPER_SHA256", h.sum}, {"AMIH_HELPER_WHY", h.why}}
}

// helperArch maps `uname -m` to the helper builds' GOARCH.
var helperArch = map[string]string{"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}

// helperBinary returns the embedded helper for a guest's `uname -m`, or why
// there is none.
func helperBinary(machine string) ([]byte, error) {
	arch := helperArch[machine]
	if arch == "" {
		return nil, fmt.Errorf("no guest helper is built for %s", orUnknown(guestText(machine)))
	}
	data, err := fs.ReadFile(guestHelperFiles, "guestbin/ami-hygiene-guest-linux-"+arch)
	if err != nil {
		return nil, fmt.Errorf("this plugin was built without its guest helper for linux/%s", arch)
	}
	return data, nil
}

// missingHelpers lists the helper builds ("linux/amd64", ...) this plugin
// was built without: every build helperArch names.
func missingHelpers() []string {
	arches := slices.Sorted(maps.Values(helperArch))
	var missing []string
	for _, arch := range slices.Compact(arches) {
		if _, err := fs.Stat(guestHelperFiles, "guestbin/ami-hygiene-guest-linux-"+arch); err != nil {
			missing = append(missing, "linux/"+arch)
		}
	}
	return missing
}

// MissingGuestHelperNotice says which guest helper builds this plugin lacks,
// what that costs and how to get a complete plugin; "" when it has them all.
func MissingGuestHelperNotice() string {
	missing := missingHelpers()
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("this plugin was built without its guest helper for %s (a plain `go build` or `go install`): "+
		"on such guests free_space does the helper's work in sh, slower, and on XFS with the full fill (every free block written); "+
		"build the plugin with `make build` or install a release (`packer init`), which embed both builds",
		strings.Join(missing, ", "))
}

// helperUploadDeadline bounds the helper's upload (about 1.5 MiB): the SDK
// cannot cancel an upload, so one that does not end in time is abandoned.
var helperUploadDeadline = 2 * time.Minute

// uploadHelper uploads the guest helper for a step, as the SSH user, to a
// new name in /tmp (the script removes it); never in dry run, where no step
// that uses it changes anything.
func (r *checklistRunner) uploadHelper(ctx context.Context) guestHelper {
	data, err := helperBinary(r.report.Guest.Detected["machine"])
	if err != nil {
		return guestHelper{why: err.Error()}
	}
	name := make([]byte, 12)
	if _, err := rand.Read(name); err != nil {
		return guestHelper{why: err.Error()}
	}
	path := "/tmp/.ami-hygiene-guest." + hex.EncodeToString(name)
	// Bounded as the plugin's fixed commands are: the SDK cannot cancel
	// an upload that hangs.
	done := make(chan fixedAnswer, 1)
	go func() { done <- fixedAnswer{err: r.guest.comm.Upload(path, bytes.NewReader(data), nil)} }()
	a, err := await(ctx, done, helperUploadDeadline)
	if err == nil {
		err = a.err
	}
	if err != nil {
		return guestHelper{why: fmt.Sprintf("the guest helper's upload failed: %v", err)}
	}
	sum := sha256.Sum256(data)
	return guestHelper{path: path, sum: hex.EncodeToString(sum[:])}
}
