#!/bin/sh
# Builds .web-docs (what the Packer integrations site reads) from the docs
# rendered by `packer-sdc renderdocs`.
# Usage: compile-web-docs.sh RENDERED_DOCS_DIR WEB_DOCS_DIR
set -eu
src=$1 dst=$2
rm -rf "$dst"
mkdir -p "$dst/components/provisioner/ami-hygiene"

# strip_front_matter FILE: the file without its leading --- ... --- block.
strip_front_matter() {
	awk 'NR == 1 && $0 == "---" { fm = 1; next } fm && $0 == "---" { fm = 0; next } !fm' "$1"
}

strip_front_matter "$src/README.md" >"$dst/README.md"
strip_front_matter "$src/provisioners/ami-hygiene.mdx" >"$dst/components/provisioner/ami-hygiene/README.md"
cat >"$dst/metadata.hcl" <<'HCL'
# The integration's card on the Packer integrations portal. For the full
# specification of this file see
# https://github.com/hashicorp/integration-template#metadata-configuration
integration {
  name        = "AMI Hygiene"
  description = "Runs the checklist of a good golden image inside the build, in a fixed safe order, and proves the result with a report."
  identifier  = "packer/ami-hygiene/ami-hygiene"
  docs {
    process_docs    = true
    readme_location = "./README.md"
    external_url    = "https://github.com/ami-hygiene/packer-plugin-ami-hygiene"
  }
  license {
    type = "MPL-2.0"
    url  = "https://github.com/ami-hygiene/packer-plugin-ami-hygiene/blob/main/LICENSE"
  }
  component {
    type = "provisioner"
    name = "AMI Hygiene"
    slug = "ami-hygiene"
  }
}
HCL
