//go:build tools

// Package tools pins packer-plugin-amazon, used to validate the amazon-ebs example.
package tools

import _ "github.com/hashicorp/packer-plugin-amazon"
