// Command packer-plugin-ami-hygiene is the Packer plugin that provides the
// `ami-hygiene` provisioner.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/packer-plugin-sdk/plugin"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/provisioner"
	"github.com/ami-hygiene/packer-plugin-ami-hygiene/version"
)

func main() {
	// `describe` is how Packer and people see what a plugin is: a
	// build without its guest helper says so there (on stderr, so that
	// describe's JSON stays as the SDK prints it).
	if len(os.Args) > 1 && os.Args[1] == "describe" {
		if notice := provisioner.MissingGuestHelperNotice(); notice != "" {
			fmt.Fprintln(os.Stderr, "packer-plugin-ami-hygiene: warning: "+notice)
		}
	}
	pps := plugin.NewSet()
	pps.RegisterProvisioner(plugin.DEFAULT_NAME, new(provisioner.Provisioner))
	pps.SetVersion(version.PluginVersion)
	if err := pps.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err.Error())
		os.Exit(1)
	}
}
