# The template `make demo` runs: a local Debian VM (QEMU, started by the
# demo) reached over SSH with the null builder, made dirty the way a real
# build does, then the whole checklist.
packer {
  required_plugins {
    ami-hygiene = {
      version = ">= 0.0.1"
      source  = "github.com/ami-hygiene/ami-hygiene"
    }
  }
}

variable "ssh_port" {
  type        = number
  description = "The loopback port QEMU forwards to the guest's sshd."
}

variable "ssh_private_key_file" {
  type        = string
  description = "The key cloud-init gave the guest's admin user."
}

variable "dirty_script" {
  type        = string
  description = "The script that makes the guest dirty."
  default     = "../../test/e2e/testdata/dirty.sh"
}

source "null" "local" {
  ssh_host               = "127.0.0.1"
  ssh_port               = var.ssh_port
  ssh_username           = "admin"
  ssh_private_key_file   = var.ssh_private_key_file
  ssh_timeout            = "20m"
  ssh_read_write_timeout = "5m"
}

build {
  sources = ["source.null.local"]

  provisioner "shell" {
    script          = var.dirty_script
    execute_command = "sudo -n sh -c '{{ .Vars }} {{ .Path }}'"
  }

  provisioner "ami-hygiene" {
    stop_services {
      services = ["e2e-app"]
    }
    verify {
      name          = "debian"
      command       = ". /etc/os-release && echo $ID $VERSION_ID"
      expect_output = "^debian [0-9]+$"
    }
    report_path = "ami-hygiene-report.json"
  }
}
