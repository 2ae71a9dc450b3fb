# For full specification on the configuration of this file visit:
# https://github.com/hashicorp/integration-template#metadata-configuration
integration {
  name        = "AMI Hygiene"
  description = "Runs the checklist of a good golden image inside the build and proves the result with a report."
  identifier  = "packer/ami-hygiene/ami-hygiene"
  component {
    type = "provisioner"
    name = "AMI Hygiene"
    slug = "ami-hygiene"
  }
}
