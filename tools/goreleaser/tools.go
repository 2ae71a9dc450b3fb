//go:build tools

// Package tools pins goreleaser, used by `make release-check`.
package tools

import _ "github.com/goreleaser/goreleaser/v2"
