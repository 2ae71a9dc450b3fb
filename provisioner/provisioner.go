// Package provisioner implements the `ami-hygiene` Packer provisioner: the
// checklist of a good golden image, run in a fixed safe order inside the
// build instance through Packer's communicator, with a report that proves
// the result.
package provisioner

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// Provisioner is the `ami-hygiene` provisioner.
type Provisioner struct {
	config Config
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
		// Commands and patterns are the user's own text: `{{ }}` in them
		// is not a Packer template.
		InterpolateFilter: &interpolate.RenderFilter{Exclude: []string{"verify", "shell_history", "credentials", "logs", "caches", "secret_scan"}},
	}, raws...)
	if err != nil {
		return err
	}
	plan, err := p.config.prepare()
	if err != nil {
		return err
	}
	p.plan = plan
	return nil
}

// prepare applies defaults, validates, and returns the plan of steps.
func (c *Config) prepare() ([]stepDef, error) {
	v := &validator{}
	known := map[string]bool{}
	for _, s := range catalogue {
		known[s.Name] = true
		s.settings(c).prepare(v, s.Name)
	}
	for _, list := range []struct {
		attr  string
		names []string
	}{{"steps", c.Steps}, {"skip_steps", c.SkipSteps}} {
		seen := map[string]bool{}
		for i, name := range list.names {
			switch {
			case name == unknown:
			case !known[name]:
				v.add(fmt.Sprintf("%s[%d]", list.attr, i), "unknown step %q; steps are %s", name, quoteList(stepNames()))
			case seen[name]:
				v.add(fmt.Sprintf("%s[%d]", list.attr, i), "step %q is listed twice", name)
			}
			seen[name] = true
		}
	}
	if len(c.Steps) > 0 && len(c.SkipSteps) > 0 {
		v.add("skip_steps", "cannot be combined with steps: list the steps to run in steps, or the steps to skip in skip_steps")
	}
	if len(c.Audit.Services) == 0 {
		c.Audit.Services = c.StopServices.Services
	}
	v.localPath("report_path", c.ReportPath)
	v.localPath("junit_path", c.JUnitPath)
	if c.ReportPath == "" {
		c.ReportPath = defaultReportPath(c.PackerBuildName)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return c.plan(), nil
}

// plan selects the steps to run, in the catalogue's order.
func (c *Config) plan() []stepDef {
	var plan []stepDef
	for _, s := range catalogue {
		if (len(c.Steps) == 0 || contains(c.Steps, s.Name)) && !contains(c.SkipSteps, s.Name) {
			plan = append(plan, s)
		}
	}
	return plan
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// defaultReportPath names the report after the build, so that several
// sources in one build each write their own file.
func defaultReportPath(build string) string {
	build = strings.Trim(unsafeFileChars.ReplaceAllString(build, "-"), "-.")
	if build == "" {
		return "ami-hygiene-report.json"
	}
	return "ami-hygiene-report-" + build + ".json"
}

// Provision runs the plan on the guest.
func (p *Provisioner) Provision(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, _ map[string]interface{}) error {
	r := &run{config: &p.config, plan: p.plan, ui: ui, guest: &guest{comm: comm, ui: ui}}
	return r.execute(ctx)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
