//go:generate go tool packer-sdc mapstructure-to-hcl2 -type StopServices
//go:generate go tool packer-sdc struct-markdown

package provisioner

import "fmt"

// StopServices configures the `stop_services` step: stop the application
// services so that nothing writes to the disk while the image is taken
// (systemd, OpenRC or SysV init, detected). A name that does not exist, or a
// service still active after stopping it, fails the build.
type StopServices struct {
	// The services to stop, e.g. `["nginx", "myapp"]` (systemd unit names
	// may carry their suffix: `myapp.service`). Default: none, and the step
	// is skipped.
	Services []string `mapstructure:"services"`
	// Also disable them, so that instances made from the image do not start
	// them at boot. Default `false`.
	Disable bool `mapstructure:"disable"`
}

var stopServicesStep = stepDef{
	Name:     "stop_services",
	Title:    "stop application services",
	Summary:  "stops (and optionally disables) your application services",
	Touches:  []string{"the state of the listed services; with `disable`, their boot-time links (systemctl disable, rc-update del, update-rc.d)"},
	configOf: func(c *Config) stepConfig { return &c.StopServices },
}

func (s *StopServices) prepare(v *validator, attr string) {
	for i, name := range s.Services {
		v.serviceName(fmt.Sprintf("%s.services[%d]", attr, i), name)
	}
}

func (s *StopServices) env() []envVar {
	return []envVar{{"AMIH_SERVICES", lines(s.Services)}, {"AMIH_DISABLE", flag(s.Disable)}}
}

func (s *StopServices) skipReason() string {
	if len(s.Services) == 0 {
		return "no services listed"
	}
	return ""
}
