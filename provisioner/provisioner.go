// Package provisioner implements the `ami-hygiene` Packer provisioner: the
// checklist of a good golden image, run in a fixed safe order inside the
// build instance through Packer's communicator, with a report that proves
// the result.
//
// The data flows one way: HCL → Config (config.go, validated once by each
// step's block, validate.go) → plan of steps (catalogue.go) → one guest
// script per step (script.go, scripts/) run through the communicator
// (guest.go) → records (protocol.go) → typed results → UI lines and report
// (runner.go, report.go).
package provisioner

import (
	"context"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/template/config"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// Provisioner is the `ami-hygiene` provisioner.
type Provisioner struct {
	config Config
	// options are the run-wide settings, prepared from config.
	options runOptions
	// plan is the catalogue's steps selected by steps/skip_steps, in order.
	plan []stepDef
}

var _ packersdk.Provisioner = new(Provisioner)

// ConfigSpec returns the HCL2 spec of the provisioner's block.
func (p *Provisioner) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

// Prepare decodes the configuration, applies defaults and validates it,
// reporting every problem at once, each naming its attribute.
func (p *Provisioner) Prepare(raws ...interface{}) error {
	p.config = Config{}
	err := config.Decode(&p.config, &config.DecodeOpts{
		PluginType:         "packer.provisioner.ami-hygiene",
		Interpolate:        true,
		InterpolateContext: &p.config.ctx,
		InterpolateFilter:  interpolateFilter(),
	}, raws...)
	if err != nil {
		return err
	}
	p.options, p.plan, err = p.config.prepare()
	return err
}

// Provision runs the plan on the guest.
func (p *Provisioner) Provision(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, _ map[string]interface{}) error {
	r := &checklistRunner{config: &p.config, options: p.options, plan: p.plan, ui: ui, guest: &guest{comm: comm, ui: ui}}
	return r.execute(ctx)
}
