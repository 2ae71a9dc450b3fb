// Package version holds the plugin's version, set at release time through
// -ldflags (see .goreleaser.yml).
package version

import "github.com/hashicorp/packer-plugin-sdk/version"

var (
	// Version is the main version number that is being run at the moment.
	Version = "0.1.0"

	// VersionPrerelease marks a pre-release: "dev" for development builds,
	// "" for releases.
	VersionPrerelease = "dev"

	// VersionMetadata is optional build metadata (semver's "+...").
	VersionMetadata = ""

	// PluginVersion is used by the plugin set to answer `describe`.
	PluginVersion = version.NewPluginVersion(Version, VersionPrerelease, VersionMetadata)
)
