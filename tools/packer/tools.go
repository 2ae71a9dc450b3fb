//go:build tools

// Package tools pins the Packer release that every make target and test uses.
package tools

import _ "github.com/hashicorp/packer"
