module github.com/ami-hygiene/packer-plugin-ami-hygiene/tools/goreleaser

go 1.25.11
