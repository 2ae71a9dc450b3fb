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
	pps := plugin.NewSet()
	pps.RegisterProvisioner(plugin.DEFAULT_NAME, new(provisioner.Provisioner))
	pps.SetVersion(version.PluginVersion)
	if err := pps.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err.Error())
		os.Exit(1)
	}
}
