//go:generate go run ../internal/gendocs ../docs-partials/provisioner

package provisioner

import (
	"embed"
	"fmt"
)

// catalogue is the checklist: every step, in the one fixed, safe order in
// which they run, whatever the order of the blocks in the template. Adding a
// step means adding its step_<name>.go, its scripts/<name>.sh and one line
// here.
var catalogue = []stepDef{
	waitForBootStep,
	updatePackagesStep,
	verifyStep,
	stopServicesStep,
	mailQueueStep,
	machineIdentityStep,
	accessPolicyStep, // before logs and caches: usermod logs and leaves /etc/shadow- behind
	logsStep,
	cachesStep,
	shellHistoryStep,
	credentialsStep,
	authorizedKeysStep,
	secretScanStep,
	auditStep,
}

// bootCheck is the step that runs again after every reboot the plugin makes.
var bootCheck = waitForBootStep

//go:embed scripts/*.sh
var scripts embed.FS

// scriptText returns an embedded guest script.
func scriptText(name string) string {
	b, err := scripts.ReadFile("scripts/" + name)
	if err != nil {
		panic(fmt.Sprintf("ami-hygiene: missing embedded script %s", name))
	}
	return string(b)
}

// stepNames lists the catalogue's step names in order.
func stepNames() []string {
	names := make([]string, len(catalogue))
	for i, s := range catalogue {
		names[i] = s.Name
	}
	return names
}

// StepInfo describes one step of the checklist for documentation and tools.
type StepInfo struct {
	// Name is the step's name in `steps`, `skip_steps`, its block and the report.
	Name string
	// Title is its one-line heading.
	Title string
	// Script is the guest script that performs it.
	Script string
	// Touches lists what it may change on the guest.
	Touches []string
}

// Catalogue returns the checklist's steps in their fixed order.
func Catalogue() []StepInfo {
	out := make([]StepInfo, len(catalogue))
	for i, s := range catalogue {
		out[i] = StepInfo{Name: s.Name, Title: s.Title, Script: "scripts/" + s.Script, Touches: s.Touches}
	}
	return out
}
