package provisioner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The hostile-filesystem suite: a seeded generator plants trees in every
// place a step walks — homes, /var/log, /tmp, /var/tmp, the package caches,
// credential directories, the secret scan's paths — with names that hold
// newlines, tabs, backslashes, quotes, leading dashes, glob characters,
// invalid UTF-8 and terminal escapes, links at every depth that point out to
// canary files (in /etc, /srv, /usr), and filesystems mounted inside a home,
// under /var/log and under /tmp (listed in /proc/mounts). Then every step
// that walks files runs, and: every canary outside the documented targets
// is byte-identical, every link still points where it did, every planted
// leftover inside is gone (or, for a log, empty), and the secret scan names
// every planted secret by its exact path.

// hostileFragments are the pieces of hostile names.
var hostileFragments = []string{"\n", "\t", `\`, "'", `"`, "-", "--", "*", "?", "[", "]", "[!.]", "{a,b}", "\xff\xfe",
	"\x1b[31m", "\x1b]0;t\x07", " ", "$(touch x)", "`id`", ";", "&", "|", ">", "~", "#", "%s", ".."}

// hostileFS is one generated tree, described by what must hold after a run.
type hostileFS struct {
	rnd       *rand.Rand
	root      string
	paths     int               // every path planted
	canaries  map[string]string // path -> sha256 of its content: must not change
	links     map[string]string // link -> its target: must stay as it is
	gone      []string          // must not exist any more
	empty     []string          // logs: must be there and empty
	secrets   []string          // files the secret scan must name
	mounts    []string          // mount points (guest paths) for /proc/mounts
	canaryN   int
	outsideOf []string // directories the canaries live in
}

// name is a hostile name: a fragment or two around a plain part.
func (h *hostileFS) name(plain string) string {
	f := func() string { return hostileFragments[h.rnd.Intn(len(hostileFragments))] }
	switch h.rnd.Intn(4) {
	case 0:
		return f() + plain
	case 1:
		return plain + f()
	case 2:
		return f() + plain + f()
	default:
		return plain + f() + "x" + f()
	}
}

// dirName is a hostile directory name that is never "." or "..".
func (h *hostileFS) dirName() string {
	n := h.name("d")
	if n == "." || n == ".." || strings.Contains(n, "/") {
		return "d"
	}
	return n
}

func (h *hostileFS) write(path, content string) {
	full := filepath.Join(h.root, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		panic(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		panic(err)
	}
	h.paths++
}

func (h *hostileFS) link(path, target string) {
	full := filepath.Join(h.root, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		panic(err)
	}
	if err := os.Symlink(target, full); err != nil {
		panic(err)
	}
	h.links[path] = target
	h.paths++
}

// canary plants a file outside every target and returns its absolute path
// on the host (what a link points to).
func (h *hostileFS) canary() string {
	dir := h.outsideOf[h.canaryN%len(h.outsideOf)]
	h.canaryN++
	path := filepath.Join(dir, fmt.Sprintf("canary-%d", h.canaryN), h.name("c"))
	content := fmt.Sprintf("canary %d: must survive\n", h.canaryN)
	h.write(path, content)
	h.canaries[path] = sum(content)
	return filepath.Join(h.root, path)
}

// canaryDir plants a directory of canaries shaped like a target (a home's
// .aws, .config, .local) and returns its absolute path on the host.
func (h *hostileFS) canaryDir(inside ...string) string {
	dir := filepath.Join(h.outsideOf[h.canaryN%len(h.outsideOf)], fmt.Sprintf("canary-dir-%d", h.canaryN))
	h.canaryN++
	for _, p := range inside {
		content := "[default]\naws_secret_access_key = canary\n-----BEGIN OPENSSH PRIVATE KEY-----\n"
		h.write(filepath.Join(dir, p), content)
		h.canaries[filepath.Join(dir, p)] = sum(content)
	}
	return filepath.Join(h.root, dir)
}

// keep plants a file that no step targets.
func (h *hostileFS) keep(path, content string) {
	h.write(path, content)
	h.canaries[path] = sum(content)
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// hostileHomes are the homes of the suite's passwd, and the system
// accounts' homes that user patterns must never reach.
var hostileHomes = []string{"root", "home/admin", "home/alice"}

// generate plants the whole tree: per place, n rounds.
func generateHostileFS(root string, seed int64, n int) *hostileFS {
	h := &hostileFS{rnd: rand.New(rand.NewSource(seed)), root: root, canaries: map[string]string{}, links: map[string]string{},
		outsideOf: []string{"etc/canaries", "srv/canaries", "usr/canaries"}}
	h.keep("etc/passwd", passwd+"carol:x:1002:1002::/home/carol:/bin/bash\n")
	h.keep("etc/shadow", shadow)
	deep := func(base string) string {
		p := base
		for i := h.rnd.Intn(3); i > 0; i-- {
			p = filepath.Join(p, h.dirName())
		}
		return p
	}
	for i := 0; i < n; i++ {
		for _, home := range hostileHomes {
			// Histories with hostile names: leftovers of shell_history.
			hist := filepath.Join(home, "."+h.name("h")+"_history")
			if !strings.Contains(filepath.Base(hist), "/") && filepath.Base(hist) != hist {
				h.write(hist, "secret command\n")
				h.gone = append(h.gone, hist)
			}
			// Look-alikes: not histories.
			h.keep(filepath.Join(deep(home), h.name("history")+".txt"), "notes\n")
			// A history that is a link out of the home: the link goes, its
			// target stays.
			l := filepath.Join(home, ".l"+fmt.Sprint(i)+h.name("")+"_history")
			h.link(l, h.canary())
			delete(h.links, l)
			h.gone = append(h.gone, l)
			// Links at depth that point out: nothing goes through them.
			h.link(filepath.Join(deep(home), h.name("out")), h.canary())
			// Private keys with hostile names in ~/.ssh: credentials.
			key := filepath.Join(home, ".ssh", h.name("id"))
			h.write(key, "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n-----END OPENSSH PRIVATE KEY-----\n")
			h.gone = append(h.gone, key)
			h.keep(filepath.Join(home, ".ssh", h.name("id")+".pub"), "ssh-ed25519 AAAA x\n")
			// Credential trees with hostile names inside.
			tree := filepath.Join(home, ".aws/cli/cache", deep(h.dirName()), h.name("tok"))
			h.write(tree, "{\"token\": \"x\"}\n")
			h.gone = append(h.gone, tree)
		}
		// /var/log: logs at depth are truncated, rotated ones removed; a
		// directory named to split into a path outside /var/log.
		logPath := filepath.Join(deep("var/log"), h.name("app")+".log")
		h.write(logPath, "log line\n")
		h.empty = append(h.empty, logPath)
		rot := filepath.Join(deep("var/log"), h.name("app")+".log.1")
		h.write(rot, "old log\n")
		h.gone = append(h.gone, rot)
		target := h.canary()
		split := filepath.Join("var/log", h.name("x")+"\n"+target)
		h.write(split, "log line\n")
		h.empty = append(h.empty, split)
		h.link(filepath.Join(deep("var/log"), h.name("link")+".log"), h.canary())
		// /tmp and /var/tmp: every entry goes; links inside go as links.
		for _, tmp := range []string{"tmp", "var/tmp"} {
			top := filepath.Join(tmp, fmt.Sprintf("e%d", i)+h.name(""))
			h.write(filepath.Join(deep(top), h.name("f")), "tmp\n")
			inner := filepath.Join(top, h.name("l"))
			h.link(inner, h.canary())
			delete(h.links, inner)
			h.gone = append(h.gone, top)
			tl := filepath.Join(tmp, fmt.Sprintf("l%d", i)+h.name(""))
			h.link(tl, filepath.Dir(h.canary()))
			delete(h.links, tl)
			h.gone = append(h.gone, tl)
		}
		// Package caches and crash dumps.
		// (*.deb, as the shell matches it: not a name that starts with a dot)
		deb := filepath.Join("var/cache/apt/archives", "p"+h.name("kg")+".deb")
		h.write(deb, "deb\n")
		h.gone = append(h.gone, deb)
		// The secret scan's paths: secrets behind hostile names are named
		// exactly; they are not removed (the scan only reads).
		for _, base := range []string{"opt", "srv/app"} {
			p := filepath.Join(deep(base), h.name("conf"))
			content := "aws_access_key_id = AKIAIOSFODNN7EXAMPL" + string(rune('A'+i%26)) + "\n"
			h.write(p, content)
			h.canaries[p] = sum(content)
			h.secrets = append(h.secrets, "/"+p)
		}
	}
	// Homes whose .aws, .config and .local lead out of them.
	h.link("home/carol/.aws", h.canaryDir("credentials", "sso/cache/t.json"))
	h.link("home/carol/.config", h.canaryDir("gcloud/credentials.db", "fish/fish_history", "git/credentials"))
	h.link("home/carol/.local", h.canaryDir("share/fish/fish_history"))
	h.link("home/carol/.ssh", h.canaryDir("authorized_keys", "id_rsa"))
	// Filesystems mounted inside a home, under /var/log and under /tmp.
	for _, m := range []string{"home/alice/.aws/sso/cache", "var/log/mnt\tx", "tmp/mnt\n" + h.name("m")} {
		h.keep(filepath.Join(m, "data", h.name("on-another-fs")), "on another filesystem\n")
		h.mounts = append(h.mounts, "/"+m)
	}
	var mounts strings.Builder
	mounts.WriteString("/dev/vda / ext4 rw 0 0\n")
	for _, m := range h.mounts {
		esc := strings.NewReplacer(`\`, `\134`, " ", `\040`, "\t", `\011`, "\n", `\012`).Replace(m)
		fmt.Fprintf(&mounts, "tmpfs %s tmpfs rw 0 0\n", esc)
	}
	h.keep("proc/mounts", mounts.String())
	// A tmp mount is kept whole: it is not a leftover.
	return h
}

func TestHostileFilesystem(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		h := generateHostileFS(g.root, 13, 25)
		if h.paths < 1000 {
			t.Fatalf("only %d generated paths", h.paths)
		}
		p, err := prepare(map[string]interface{}{"secret_scan": map[string]interface{}{"paths": []string{"/opt", "/srv"}}})
		if err != nil {
			t.Fatal(err)
		}
		findings := map[string]bool{}
		for _, def := range p.plan {
			switch def.Name {
			case "logs", "caches", "shell_history", "credentials", "authorized_keys", "mail_queue", "secret_scan", "audit":
			default:
				continue
			}
			env := def.configOf(&p.config).env()
			if def.Name == "logs" {
				env = append(env, envVar{"AMIH_KEEP_JOURNAL", "1"})
			}
			res := g.run(def.script(), env...)
			if res.code != 0 && def.Name != "audit" && def.Name != "secret_scan" {
				t.Errorf("%s: code %d: %v\n%s", def.Name, res.code, res.kind("error"), res.other)
			}
			if def.Name == "secret_scan" {
				for _, f := range res.kind("finding") {
					findings[f.field(1)] = true
				}
			}
		}
		changed := 0
		for path, want := range h.canaries {
			data, err := os.ReadFile(filepath.Join(g.root, path))
			if err != nil || sum(string(data)) != want {
				changed++
				if changed <= 10 {
					t.Errorf("canary %q changed or gone: %v", path, err)
				}
			}
		}
		for link, target := range h.links {
			if got, err := os.Readlink(filepath.Join(g.root, link)); err != nil || got != target {
				t.Errorf("link %q now points to %q (%v), was %q", link, got, err, target)
			}
		}
		left := 0
		for _, path := range h.gone {
			if _, err := os.Lstat(filepath.Join(g.root, path)); err == nil {
				left++
				if left <= 10 {
					t.Errorf("leftover %q is still there", path)
				}
			}
		}
		for _, path := range h.empty {
			if data, err := os.ReadFile(filepath.Join(g.root, path)); err != nil || len(data) != 0 {
				t.Errorf("log %q was not emptied: %q %v", path, data, err)
			}
		}
		for _, s := range h.secrets {
			if !findings[s] {
				t.Errorf("the secret scan did not name %q", s)
			}
		}
		t.Logf("%d generated paths: %d canaries and %d links intact, %d leftovers gone, %d logs emptied, %d secrets named exactly, %d mounts left alone",
			h.paths, len(h.canaries), len(h.links), len(h.gone), len(h.empty), len(h.secrets), len(h.mounts))
	})
}
