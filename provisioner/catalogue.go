//go:generate go run ../internal/gendocs ../docs-partials/provisioner

package provisioner

// catalogue is the checklist: every step, in the one fixed, safe order in
// which they run, whatever the order of the blocks in the template.
//
// Adding a step touches:
//  1. step_<name>.go: its block type (doc comments are its docs), its
//     stepDef (name, title, summary, what it touches) and its script
//     inputs, with the two go:generate lines at its top (HCL2 spec and docs
//     partials);
//  2. scripts/<name>.sh: its guest script;
//  3. step_<name>_test.go: its script under dash and busybox;
//  4. one line here;
//  5. one field in Config (config.go), named after the step: its HCL block.
//
// `make generate` then writes its HCL2 spec, its docs partials, its row of
// the docs' overview table and its section of the docs (internal/gendocs,
// from this catalogue); TestCatalogueIsConsistent says what is missing.
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
	freeSpaceStep, // after every step that removes files
	finalShutdownStep,
	auditStep,
}

// bootCheck is the step that runs again after every reboot the plugin makes.
var bootCheck = waitForBootStep

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
	// Summary is what it does, in one sentence.
	Summary string
	// Script is the guest script that performs it.
	Script string
	// Touches lists what it may change on the guest.
	Touches []string
}

// Catalogue returns the checklist's steps in their fixed order.
func Catalogue() []StepInfo {
	out := make([]StepInfo, len(catalogue))
	for i, s := range catalogue {
		out[i] = StepInfo{Name: s.Name, Title: s.Title, Summary: s.Summary, Script: "scripts/" + s.script(), Touches: s.Touches}
	}
	return out
}
