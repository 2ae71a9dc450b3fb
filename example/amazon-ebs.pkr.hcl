# A golden image on AWS: the team's own setup, then the ami-hygiene checklist.
# amazon-ebs then stops the instance and creates the AMI.
packer {
  required_plugins {
    amazon = {
      version = ">= 1.8.0"
      source  = "github.com/hashicorp/amazon"
    }
    ami-hygiene = {
      version = ">= 0.1.0"
      source  = "github.com/ami-hygiene/ami-hygiene"
    }
  }
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

# The variables below keep their defaults on AWS. They exist so that the same
# template runs against an EC2 API emulator and local guests (the plugin's own
# amazon-ebs test does: README, "amazon-ebs without an AWS account").

variable "ec2_endpoint" {
  type        = string
  default     = ""
  description = "An EC2 API endpoint other than AWS's (an emulator); empty for AWS."
}

variable "source_amis" {
  type        = map(string)
  default     = {}
  description = "A source AMI id per source name (ubuntu, al2023); a source without one finds its AMI by its filter."
}

variable "ssh_host" {
  type        = string
  default     = ""
  description = "The address Packer connects to; empty for the instance's own."
}

variable "ssh_ports" {
  type        = map(number)
  default     = {}
  description = "The SSH port per source name; 22 for a source without one."
}

variable "ssh_keypair_names" {
  type        = map(string)
  default     = {}
  description = "An existing EC2 key pair per source name, with its ssh_private_key_files entry; a source without one gets a temporary key pair."
}

variable "ssh_private_key_files" {
  type        = map(string)
  default     = {}
  description = "The private key of ssh_keypair_names, per source name."
}

locals {
  stamp = formatdate("YYYYMMDDhhmmss", timestamp())
  # Against an emulator there are no real credentials to check and no
  # instance metadata service.
  emulated = var.ec2_endpoint != ""
}

source "amazon-ebs" "ubuntu" {
  region        = var.region
  instance_type = "t3.small"
  ssh_username  = "ubuntu"
  ami_name      = "golden-ubuntu-noble-${local.stamp}"
  source_ami    = lookup(var.source_amis, "ubuntu", "")
  dynamic "source_ami_filter" {
    for_each = lookup(var.source_amis, "ubuntu", "") == "" ? [1] : []
    content {
      filters = {
        name                = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
        root-device-type    = "ebs"
        virtualization-type = "hvm"
      }
      owners      = ["099720109477"] # Canonical
      most_recent = true
    }
  }
  # The temporary key's line is removed from authorized_keys too (the
  # ami-hygiene authorized_keys step has emptied them already).
  ssh_clear_authorized_keys = true
  ssh_host                  = var.ssh_host
  ssh_port                  = lookup(var.ssh_ports, "ubuntu", 22)
  ssh_keypair_name          = lookup(var.ssh_keypair_names, "ubuntu", "")
  ssh_private_key_file      = lookup(var.ssh_private_key_files, "ubuntu", "")
  # The SDK cannot cancel a hung SSH call: bound every read and write.
  ssh_read_write_timeout = "5m"

  custom_endpoint_ec2        = var.ec2_endpoint
  skip_credential_validation = local.emulated
  skip_metadata_api_check    = local.emulated
}

source "amazon-ebs" "al2023" {
  region        = var.region
  instance_type = "t3.small"
  ssh_username  = "ec2-user"
  ami_name      = "golden-al2023-${local.stamp}"
  source_ami    = lookup(var.source_amis, "al2023", "")
  dynamic "source_ami_filter" {
    for_each = lookup(var.source_amis, "al2023", "") == "" ? [1] : []
    content {
      filters = {
        name                = "al2023-ami-2023.*-x86_64"
        root-device-type    = "ebs"
        virtualization-type = "hvm"
      }
      owners      = ["amazon"]
      most_recent = true
    }
  }
  # The temporary key's line is removed from authorized_keys too (the
  # ami-hygiene authorized_keys step has emptied them already).
  ssh_clear_authorized_keys = true
  ssh_host                  = var.ssh_host
  ssh_port                  = lookup(var.ssh_ports, "al2023", 22)
  ssh_keypair_name          = lookup(var.ssh_keypair_names, "al2023", "")
  ssh_private_key_file      = lookup(var.ssh_private_key_files, "al2023", "")
  # The SDK cannot cancel a hung SSH call: bound every read and write.
  ssh_read_write_timeout = "5m"

  custom_endpoint_ec2        = var.ec2_endpoint
  skip_credential_validation = local.emulated
  skip_metadata_api_check    = local.emulated
}

build {
  sources = ["source.amazon-ebs.ubuntu", "source.amazon-ebs.al2023"]

  # The team's own setup.
  provisioner "shell" {
    inline = [
      "sudo mkdir -p /srv/app",
      "echo 'deployed by the team setup' | sudo tee /srv/app/VERSION",
      "id deploy >/dev/null 2>&1 || sudo useradd --create-home deploy",
    ]
  }

  # The golden-image checklist, in its fixed order; each source writes its
  # own report (ami-hygiene-report-amazon-ebs.ubuntu.json, ...-amazon-ebs.al2023.json).
  provisioner "ami-hygiene" {
    # Every reboot the plugin makes (update_packages', reboot_before_verify's).
    reboot_timeout = "15m"
    wait_for_boot {
      boot_timeout = "15m"
      min_uptime   = "1m"
    }
    update_packages {
      reboot = "if-required"
    }
    verify {
      name          = "app deployed"
      command       = "cat /srv/app/VERSION"
      expect_output = "^deployed by the team setup$"
    }
    mail_queue {
      flush_timeout = "2m"
      on_timeout    = "purge"
    }
    machine_identity {
      reset_hostname = true
    }
    logs {
      exclude = ["/var/log/app/audit-trail.log"]
    }
    credentials {
      paths = ["/srv/app/deploy.key"]
    }
    secret_scan {
      allow = ["/srv/app/test/fixtures/*"]
    }
    # free_space keeps its default mode, "sparse": zeros only over the free
    # blocks that still hold data (what the build deleted), so no deleted
    # secret survives in the snapshot and the snapshot grows by those blocks
    # alone. ("zero" and "both" write every free block: on EBS the snapshot
    # then grows by the whole free space; see the docs' "What it costs on EBS".)
    # At the final shutdown, after the network, sshd and the journal have
    # stopped: a user the team setup made for the build goes too.
    final_shutdown {
      remove_users = ["deploy"]
    }
    audit {
      on_finding = "fail"
    }
    junit_path = "reports/ami-hygiene-${source.name}.xml"
  }

  # The AMI ids, for the pipeline's next stage.
  post-processor "manifest" {
    output     = "packer-manifest.json"
    strip_path = true
  }
}
