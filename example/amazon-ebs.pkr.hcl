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

locals {
  stamp = formatdate("YYYYMMDDhhmmss", timestamp())
}

source "amazon-ebs" "ubuntu" {
  region        = var.region
  instance_type = "t3.small"
  ssh_username  = "ubuntu"
  ami_name      = "golden-ubuntu-noble-${local.stamp}"
  source_ami_filter {
    filters = {
      name                = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["099720109477"] # Canonical
    most_recent = true
  }
  # The SDK cannot cancel a hung SSH call: bound every read and write.
  ssh_read_write_timeout = "5m"
}

source "amazon-ebs" "al2023" {
  region        = var.region
  instance_type = "t3.small"
  ssh_username  = "ec2-user"
  ami_name      = "golden-al2023-${local.stamp}"
  source_ami_filter {
    filters = {
      name                = "al2023-ami-2023.*-x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["amazon"]
    most_recent = true
  }
  ssh_read_write_timeout = "5m"
}

build {
  sources = ["source.amazon-ebs.ubuntu", "source.amazon-ebs.al2023"]

  # The team's own setup.
  provisioner "shell" {
    inline = [
      "sudo mkdir -p /srv/app",
      "echo 'deployed by the team setup' | sudo tee /srv/app/VERSION",
    ]
  }

  # The golden-image checklist, in its fixed order; each source writes its
  # own report (ami-hygiene-report-<build name>.json).
  provisioner "ami-hygiene" {
    wait_for_boot {
      boot_timeout = "15m"
      min_uptime   = "1m"
    }
    update_packages {
      reboot         = "if-required"
      reboot_timeout = "15m"
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
    # Zeros over the free space (EBS snapshots keep freed blocks as they
    # are) and the swap cleared.
    free_space {
      mode = "both"
    }
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
}
