//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/internal/shellquote"
	"github.com/ami-hygiene/packer-plugin-ami-hygiene/provisioner"
)

// amazonEBSSources are the sources of example/amazon-ebs.pkr.hcl and their
// ssh_username: each source's instance is a local guest where that user is
// the AMI's default user (sudo, the launch key).
var amazonEBSSources = []struct{ name, user string }{{"ubuntu", "ubuntu"}, {"al2023", "ec2-user"}}

// TestAmazonEBS: example/amazon-ebs.pkr.hcl itself, both its sources in one
// `packer build -parallel-builds=2`, with the real amazon-ebs builder
// (packer-plugin-amazon v1.8.0 from `make tools`) against moto's EC2
// emulator on a loopback port. Each source's instance is a dirty local guest
// of its own, reached through ssh_host and ssh_port. ubuntu's key pair is
// the build key, imported into the emulator (ssh_keypair_name and
// ssh_private_key_file); al2023 gets amazon-ebs's temporary key pair, which
// the test hands to its guest as EC2 hands an instance its launch key, so
// that ssh_clear_authorized_keys runs for real. amazon-ebs then stops the
// instance, creates the AMI and terminates the instance in the emulator;
// the guests are read through the guest agent.
func TestAmazonEBS(t *testing.T) {
	dir := workDir(t, "amazon-ebs")
	key, err := NewKey(dir, "build-key")
	if err != nil {
		t.Fatal(err)
	}
	beds := map[string]*Bed{}
	for _, src := range amazonEBSSources {
		beds[src.name] = NewBedWithUsers(t, "ebs-"+src.name, key, src.user)
	}
	moto := StartMoto(t, dir, "eu-west-1")
	if err := moto.ImportKeyPair("amih-e2e", key); err != nil {
		t.Fatal(err)
	}
	// ubuntu's filter (noble, Canonical) matches none of the emulator's
	// images: it gets an id; al2023's filter finds one of the emulator's own.
	ubuntu, err := moto.Images(url.Values{"Owner.1": {"099720109477"},
		"Filter.1.Name": {"name"}, "Filter.1.Value.1": {"ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*"}})
	if err != nil || len(ubuntu) == 0 {
		t.Fatalf("no Ubuntu image in the emulator: %v", err)
	}

	// Both guests dirty at once, the way a build's own provisioners leave
	// them (cloud-init done first: the fixture copies the host keys).
	dirty, err := os.ReadFile(filepath.Join(repoRoot(), "test", "e2e", "testdata", "dirty.sh"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for name, bed := range beds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := bed.VM.WaitAgent(15 * time.Minute); err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			out, code, err := bed.VM.Exec("cloud-init status --wait >/dev/null 2>&1\n"+string(dirty), 15*time.Minute)
			if err != nil || code != 0 {
				t.Errorf("%s: the dirty fixture: exit %d, %v\n%s", name, code, err, out)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	template := filepath.Join(repoRoot(), "example", "amazon-ebs.pkr.hcl")
	args := []string{"build", "-color=false", "-parallel-builds=2",
		"-var", "region=" + moto.Region,
		"-var", "ec2_endpoint=" + moto.Endpoint,
		"-var", fmt.Sprintf("source_amis={ubuntu = %q}", ubuntu[0].ID),
		"-var", "ssh_host=127.0.0.1",
		"-var", fmt.Sprintf("ssh_ports={ubuntu = %d, al2023 = %d}", beds["ubuntu"].VM.SSHPort, beds["al2023"].VM.SSHPort),
		"-var", `ssh_keypair_names={ubuntu = "amih-e2e"}`,
		"-var", fmt.Sprintf("ssh_private_key_files={ubuntu = %q}", key.Private),
		template}
	// Dummy credentials; the SDK's waiters poll every second, not every 15;
	// no metadata service. Every HTTP(S) request that is not for the
	// loopback emulator goes to a closed port: nothing leaves this machine.
	env := append([]string{"AWS_POLL_DELAY_SECONDS=1", "AWS_EC2_METADATA_DISABLED=true",
		"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1"}, MotoCredentials...)
	launched := make(chan error, 1)
	stop := make(chan struct{})
	go func() { launched <- handLaunchKey(moto, beds["al2023"].VM, "ec2-user", stop) }()
	start := time.Now()
	run := RunPackerArgs(dir, args, env, streamTo(), 60*time.Minute)
	close(stop)
	if err := <-launched; err != nil {
		t.Errorf("al2023's temporary key pair: %v", err)
	}
	t.Logf("packer build (amazon-ebs, 2 sources, -parallel-builds=2) finished in %s (err: %v)", time.Since(start).Round(time.Second), run.Err)
	if run.Err != nil {
		log, _ := os.ReadFile(run.Log)
		t.Fatalf("packer build failed: %v\n%s\n---- packer log (tail) ----\n%s", run.Err, TailLines(run.Output, 80), TailLines(string(log), 60))
	}

	// amazon-ebs's own cleanup of its temporary key ran after the plugin
	// (which had removed every authorized_keys already) and the build went on.
	if !strings.Contains(run.Output, "amazon-ebs.al2023: Trying to remove ephemeral keys from authorized_keys files") {
		t.Errorf("amazon-ebs did not clean its temporary key on al2023 (ssh_clear_authorized_keys)")
	}
	artifacts := manifestArtifacts(t, filepath.Join(dir, "packer-manifest.json"))
	requests := moto.Requests()
	instances, err := moto.Instances()
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range amazonEBSSources {
		t.Run(src.name, func(t *testing.T) {
			report := readReport(t, filepath.Join(dir, "ami-hygiene-report-amazon-ebs."+src.name+".json"))
			if report.Build != "amazon-ebs."+src.name || report.Status != "succeeded" || report.Verdict != provisioner.VerdictClean {
				t.Errorf("report: build %q, status %v, verdict %v, findings %v", report.Build, report.Status, report.Verdict, report.Findings)
			}
			if _, err := os.Stat(filepath.Join(dir, "reports", "ami-hygiene-"+src.name+".xml")); err != nil {
				t.Errorf("junit file: %v", err)
			}
			// Its own guest: the dirty fixture asked for a reboot on each.
			state := beds[src.name].Inspect(inspectScript())
			if r := report.Guest.Reboots; r != atoi(first(state, "boots"))-1 {
				t.Errorf("the report says %d reboots, its guest booted %s times", r, first(state, "boots"))
			}
			guestIsClean(t, state, "cron")

			// The AMI: in the manifest, in the emulator, made from this
			// source's instance after the checklist had finished.
			ami := strings.TrimPrefix(artifacts[src.name], moto.Region+":")
			if !strings.HasPrefix(ami, "ami-") {
				t.Fatalf("manifest artifact of %s: %q", src.name, artifacts[src.name])
			}
			images, err := moto.Images(url.Values{"ImageId.1": {ami}})
			if err != nil || len(images) != 1 || images[0].State != "available" || !strings.HasPrefix(images[0].Name, "golden-"+src.name+"-") {
				t.Fatalf("the emulator's image %s: %+v %v", ami, images, err)
			}
			instance := ""
			for _, req := range requests {
				if req.Action == "CreateImage" && req.Params.Get("Name") == images[0].Name {
					instance = req.Params.Get("InstanceId")
				}
			}
			stop, create, terminate := findRequest(requests, "StopInstances", "InstanceId.1", instance),
				findRequest(requests, "CreateImage", "InstanceId", instance),
				findRequest(requests, "TerminateInstances", "InstanceId.1", instance)
			if instance == "" || stop < 0 || create < 0 || terminate < 0 || !(stop < create && create < terminate) {
				t.Fatalf("instance %q: StopInstances #%d, CreateImage #%d, TerminateInstances #%d (want all, in this order)", instance, stop, create, terminate)
			}
			if at := requests[stop].At; !at.After(report.Finished) {
				t.Errorf("StopInstances at %s, before the plugin finished (%s)", at, report.Finished)
			}
			if at := requests[create].At; at.Before(requests[stop].At) {
				t.Errorf("CreateImage at %s, before StopInstances (%s)", at, requests[stop].At)
			}
			found := false
			for _, in := range instances {
				if in.ID != instance {
					continue
				}
				found = true
				if in.State != "terminated" || (in.KeyName == "amih-e2e") != (src.name == "ubuntu") {
					t.Errorf("instance %s: state %q, key pair %q (want terminated by the builder's cleanup; amih-e2e for ubuntu only)", in.ID, in.State, in.KeyName)
				}
			}
			if !found {
				t.Errorf("the emulator does not know instance %s", instance)
			}
			t.Logf("%s: report finished %s, then StopInstances +%s, CreateImage +%s -> %s", src.name,
				report.Finished.Format(time.RFC3339Nano), requests[stop].At.Sub(report.Finished).Round(time.Millisecond),
				requests[create].At.Sub(report.Finished).Round(time.Millisecond), ami)
		})
	}
}

// launchKey is the shape of an OpenSSH public key line.
var launchKey = regexp.MustCompile(`^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp256) [A-Za-z0-9+/]+={0,2}$`)

// handLaunchKey waits for amazon-ebs's temporary key pair (packer_*) in the
// emulator and adds its public key to the user's authorized_keys on the
// guest, as cloud-init does with the key EC2 gives an instance at launch. It
// gives up when stop closes.
func handLaunchKey(moto *Moto, vm *VM, user string, stop <-chan struct{}) error {
	for {
		pairs, err := moto.KeyPairs()
		if err != nil {
			return err
		}
		for _, p := range pairs {
			if !strings.HasPrefix(p.Name, "packer_") {
				continue
			}
			pub := strings.TrimSpace(p.PublicKey)
			if f := strings.Fields(pub); len(f) >= 2 {
				pub = f[0] + " " + f[1]
			}
			if !launchKey.MatchString(pub) {
				return fmt.Errorf("key pair %s: not a public key: %q", p.Name, p.PublicKey)
			}
			script := fmt.Sprintf(`set -e
home=$(getent passwd %[1]s | cut -d: -f6)
install -d -m 700 -o %[1]s -g %[1]s "$home/.ssh"
printf '%%s %%s\n' %[2]s %[3]s >> "$home/.ssh/authorized_keys"
chown %[1]s: "$home/.ssh/authorized_keys"
chmod 600 "$home/.ssh/authorized_keys"
`, user, shellquote.Quote(pub), shellquote.Quote(p.Name))
			if out, code, err := vm.Exec(script, time.Minute); err != nil || code != 0 {
				return fmt.Errorf("adding %s to %s's authorized_keys: exit %d, %v: %s", p.Name, user, code, err, out)
			}
			return nil
		}
		select {
		case <-stop:
			return fmt.Errorf("no temporary key pair appeared in the emulator")
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// findRequest is the index of the first request of the action whose
// parameter is value, or -1.
func findRequest(requests []MotoRequest, action, param, value string) int {
	for i, req := range requests {
		if req.Action == action && value != "" && req.Params.Get(param) == value {
			return i
		}
	}
	return -1
}

// manifestArtifacts reads the manifest post-processor's file: artifact id
// by build name.
func manifestArtifacts(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	var m struct {
		Builds []struct {
			Name        string `json:"name"`
			BuilderType string `json:"builder_type"`
			ArtifactID  string `json:"artifact_id"`
		} `json:"builds"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	out := map[string]string{}
	for _, b := range m.Builds {
		if b.BuilderType == "amazon-ebs" {
			out[b.Name] = b.ArtifactID
		}
	}
	return out
}
