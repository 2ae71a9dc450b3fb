package provisioner

// StepScript is one planned step as a standalone POSIX sh script: its inputs
// as exports, lib.sh and the step's own script — exactly what the plugin
// sends to the guest for that step.
type StepScript struct {
	// Name is the step's name.
	Name string
	// Body is the script.
	Body string
}

// StepScripts prepares a configuration the way Packer does (raw holds the
// block's attributes, as HCL decodes them) and returns the scripts of the
// planned steps in their order. The benchmarks use it to run the very same
// guest work without the plugin (as Packer `shell` provisioners), and it
// shows a reader exactly what runs on the guest.
func StepScripts(raw map[string]interface{}) ([]StepScript, error) {
	p := &Provisioner{}
	if err := p.Prepare(raw); err != nil {
		return nil, err
	}
	out := make([]StepScript, 0, len(p.plan))
	for _, def := range p.plan {
		out = append(out, StepScript{Name: def.Name, Body: stepScript(p.options, def, def.configOf(&p.config), exportedHelper(def))})
	}
	return out, nil
}

// exportedHelper: a script run without the plugin has no guest helper (its
// step does the helper's work in sh).
func exportedHelper(def stepDef) guestHelper {
	if !def.Helper {
		return guestHelper{}
	}
	return guestHelper{why: "the script runs without the plugin, which uploads it"}
}
