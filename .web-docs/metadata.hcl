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
