// Package hostilefs generates the hostile-filesystem suite's trees: seeded,
// reproducible trees in every place a step of the checklist walks — homes,
// /var/log, /tmp, /var/tmp, the package caches, credential directories, the
// secret scan's paths — with names that hold newlines, tabs, backslashes,
// quotes, leading dashes, glob characters, invalid UTF-8 and terminal
// escapes; links at every depth that point out of the cleaned trees to
// canary files (in /etc, /srv, /usr); and filesystems mounted inside a home,
// under /var/log and under /tmp.
//
// A Plan says what must hold after a run of the checklist: every canary
// byte-identical, every kept link pointing where it did, every planted
// leftover gone (or, for a log, empty), every planted secret named by the
// secret scan. The unit tests apply it to a fake root (Apply); the e2e suite
// runs it on the real guest (Script).
package hostilefs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Fragments are the pieces of hostile names.
var Fragments = []string{"\n", "\t", `\`, "'", `"`, "-", "--", "*", "?", "[", "]", "[!.]", "{a,b}", "\xff\xfe",
	"\x1b[31m", "\x1b]0;t\x07", " ", "$(touch x)", "`id`", ";", "&", "|", ">", "~", "#", "%s", ".."}

// Op is one thing to plant: a file with its content, or a link with its
// target (a path relative to the root, made absolute where it is planted).
type Op struct {
	Link bool
	Path string // relative to the root
	Data string // a file's content, or a link's target (relative to the root)
}

// Options choose what a Plan plants.
type Options struct {
	// Prefix is the root as the guest scripts see it: the fake root's path
	// in the unit tests, "" on a real guest. Names that split into a path
	// outside /var/log embed it.
	Prefix string
	Seed   int64
	Rounds int
	// Homes are the homes to plant in (relative to the root); LinkHome is
	// one more home, whose .aws, .config, .local and .ssh lead out of it.
	Homes    []string
	LinkHome string
}

// Plan is one generated tree and what must hold after the checklist.
type Plan struct {
	Ops      []Op
	Canaries map[string]string // path -> sha256 of its content: must not change
	Links    map[string]string // link -> target (relative to the root): must stay
	Gone     []string          // must not exist any more
	Empty    []string          // logs: must be there and empty
	Secrets  []string          // guest paths the secret scan must name
	Mounts   []string          // guest paths of the mount points
	Paths    int               // every path planted

	opts      Options
	rnd       *rand.Rand
	canaryN   int
	outsideOf []string
}

// Sum is the sha256 of a content, in hex.
func Sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// name is a hostile name: a fragment or two around a plain part.
func (p *Plan) name(plain string) string {
	f := func() string { return Fragments[p.rnd.Intn(len(Fragments))] }
	switch p.rnd.Intn(4) {
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
func (p *Plan) dirName() string {
	n := p.name("d")
	if n == "." || n == ".." || strings.Contains(n, "/") {
		return "d"
	}
	return n
}

func (p *Plan) write(path, content string) {
	p.Ops = append(p.Ops, Op{Path: path, Data: content})
	p.Paths++
}

func (p *Plan) link(path, target string) {
	p.Ops = append(p.Ops, Op{Link: true, Path: path, Data: target})
	p.Links[path] = target
	p.Paths++
}

// keep plants a file that no step targets.
func (p *Plan) keep(path, content string) {
	p.write(path, content)
	p.Canaries[path] = Sum(content)
}

// canary plants a file outside every target; it returns its path.
func (p *Plan) canary() string {
	dir := p.outsideOf[p.canaryN%len(p.outsideOf)]
	p.canaryN++
	path := filepath.Join(dir, fmt.Sprintf("canary-%d", p.canaryN), p.name("c"))
	p.keep(path, fmt.Sprintf("canary %d: must survive\n", p.canaryN))
	return path
}

// canaryDir plants a folder of canaries shaped like a target; it returns
// its path.
func (p *Plan) canaryDir(inside ...string) string {
	dir := filepath.Join(p.outsideOf[p.canaryN%len(p.outsideOf)], fmt.Sprintf("canary-dir-%d", p.canaryN))
	p.canaryN++
	for _, f := range inside {
		p.keep(filepath.Join(dir, f), "[default]\naws_secret_access_key = canary\n-----BEGIN OPENSSH PRIVATE KEY-----\n")
	}
	return dir
}

// deep is base with zero to two hostile folders below it.
func (p *Plan) deep(base string) string {
	for i := p.rnd.Intn(3); i > 0; i-- {
		base = filepath.Join(base, p.dirName())
	}
	return base
}

// Generate makes a Plan.
func Generate(o Options) *Plan {
	p := &Plan{opts: o, rnd: rand.New(rand.NewSource(o.Seed)), Canaries: map[string]string{}, Links: map[string]string{},
		outsideOf: []string{"etc/canaries", "srv/canaries", "usr/canaries"}}
	for i := 0; i < o.Rounds; i++ {
		for _, home := range o.Homes {
			// Histories with hostile names: leftovers of shell_history.
			hist := filepath.Join(home, "."+p.name("h")+"_history")
			if filepath.Dir(hist) == filepath.Clean(home) {
				p.write(hist, "secret command\n")
				p.Gone = append(p.Gone, hist)
			}
			// Look-alikes: not histories.
			p.keep(filepath.Join(p.deep(home), p.name("history")+".txt"), "notes\n")
			// A history that is a link out of the home: the link goes, its
			// target stays.
			l := filepath.Join(home, ".l"+fmt.Sprint(i)+p.name("")+"_history")
			if filepath.Dir(l) == filepath.Clean(home) {
				p.link(l, p.canary())
				delete(p.Links, l)
				p.Gone = append(p.Gone, l)
			}
			// Links at depth that point out: nothing goes through them.
			p.link(filepath.Join(p.deep(home), p.name("out")), p.canary())
			// Private keys with hostile names in ~/.ssh: credentials.
			key := filepath.Join(home, ".ssh", p.name("id"))
			p.write(key, "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n-----END OPENSSH PRIVATE KEY-----\n")
			p.Gone = append(p.Gone, key)
			p.keep(filepath.Join(home, ".ssh", p.name("id")+".pub"), "ssh-ed25519 AAAA x\n")
			// Credential trees with hostile names inside.
			tree := filepath.Join(home, ".aws/cli/cache", p.deep(p.dirName()), p.name("tok"))
			p.write(tree, "{\"token\": \"x\"}\n")
			p.Gone = append(p.Gone, tree)
		}
		// /var/log: logs at depth are truncated, rotated ones removed; a
		// folder whose name splits, on its newline, into a path outside.
		logPath := filepath.Join(p.deep("var/log"), p.name("app")+".log")
		p.write(logPath, "log line\n")
		p.Empty = append(p.Empty, logPath)
		rot := filepath.Join(p.deep("var/log"), p.name("app")+".log.1")
		p.write(rot, "old log\n")
		p.Gone = append(p.Gone, rot)
		split := filepath.Join("var/log", p.name("x")+"\n"+o.Prefix+"/"+p.canary())
		p.write(split, "log line\n")
		p.Empty = append(p.Empty, split)
		p.link(filepath.Join(p.deep("var/log"), p.name("link")+".log"), p.canary())
		// /tmp and /var/tmp: every entry goes; links inside go as links.
		for _, tmp := range []string{"tmp", "var/tmp"} {
			top := filepath.Join(tmp, fmt.Sprintf("e%d", i)+p.name(""))
			p.write(filepath.Join(p.deep(top), p.name("f")), "tmp\n")
			inner := filepath.Join(top, p.name("l"))
			p.link(inner, p.canary())
			delete(p.Links, inner)
			p.Gone = append(p.Gone, top)
			tl := filepath.Join(tmp, fmt.Sprintf("l%d", i)+p.name(""))
			p.link(tl, filepath.Dir(p.canary()))
			delete(p.Links, tl)
			p.Gone = append(p.Gone, tl)
		}
		// Package caches (*.deb, as the shell matches it: no leading dot).
		deb := filepath.Join("var/cache/apt/archives", "p"+p.name("kg")+".deb")
		p.write(deb, "deb\n")
		p.Gone = append(p.Gone, deb)
		// The secret scan's paths: secrets behind hostile names are named
		// exactly; they stay (the scan only reads).
		for _, base := range []string{"opt/hostile", "srv/hostile"} {
			path := filepath.Join(p.deep(base), p.name("conf"))
			p.keep(path, "aws_access_key_id = AKIAIOSFODNN7EXAMPL"+string(rune('A'+i%26))+"\n")
			p.Secrets = append(p.Secrets, "/"+path)
		}
	}
	// A home whose .aws, .config, .local and .ssh lead out of it.
	if o.LinkHome != "" {
		p.link(filepath.Join(o.LinkHome, ".aws"), p.canaryDir("credentials", "sso/cache/t.json"))
		p.link(filepath.Join(o.LinkHome, ".config"), p.canaryDir("gcloud/credentials.db", "fish/fish_history", "git/credentials"))
		p.link(filepath.Join(o.LinkHome, ".local"), p.canaryDir("share/fish/fish_history"))
		p.link(filepath.Join(o.LinkHome, ".ssh"), p.canaryDir("authorized_keys", "id_rsa"))
	}
	// Filesystems mounted inside a home, under /var/log and under /tmp.
	for _, m := range []string{filepath.Join(o.Homes[len(o.Homes)-1], ".aws/sso/cache"), "var/log/mnt\tx", "tmp/mnt\n" + p.name("m")} {
		p.keep(filepath.Join(m, "data", p.name("on-another-fs")), "on another filesystem\n")
		p.Mounts = append(p.Mounts, "/"+m)
	}
	return p
}

// ProcMounts is a /proc/mounts that lists the plan's mounts, escaped as the
// kernel escapes them.
func (p *Plan) ProcMounts() string {
	var b strings.Builder
	b.WriteString("/dev/vda / ext4 rw 0 0\n")
	for _, m := range p.Mounts {
		esc := strings.NewReplacer(`\`, `\134`, " ", `\040`, "\t", `\011`, "\n", `\012`).Replace(m)
		fmt.Fprintf(&b, "tmpfs %s tmpfs rw 0 0\n", esc)
	}
	return b.String()
}

// Apply plants the plan under root (a fake root on this machine).
func (p *Plan) Apply(root string) error {
	for _, op := range p.Ops {
		full := filepath.Join(root, op.Path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		var err error
		if op.Link {
			err = os.Symlink(filepath.Join(root, op.Data), full)
		} else {
			err = os.WriteFile(full, []byte(op.Data), 0o644)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// octal writes s as printf %b octal escapes, one per byte: any byte travels
// through a shell word safely.
func octal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, `\0%03o`, s[i])
	}
	return b.String()
}

// Script is a POSIX sh script that plants the plan on a real guest, as root:
// mounts (tmpfs) first, then every file and link, each name decoded from
// octal escapes. HOSTILE_ROOT, when set, plants under that folder instead
// of / and mounts nothing (the unit test of the script).
func (p *Plan) Script() string {
	var b strings.Builder
	b.WriteString("set -eu\nR=${HOSTILE_ROOT:-}\np() { printf '%b.' \"$1\"; }\n")
	b.WriteString("plant() { f=$(p \"$1\"); f=$R/${f%.}; mkdir -p \"${f%/*}\"; c=$(p \"$2\"); printf '%s' \"${c%.}\" >\"$f\"; }\n")
	b.WriteString("plink() { f=$(p \"$1\"); f=$R/${f%.}; mkdir -p \"${f%/*}\"; t=$(p \"$2\"); ln -s \"$R/${t%.}\" \"$f\"; }\n")
	b.WriteString("pmount() { f=$(p \"$1\"); f=$R${f%.}; mkdir -p \"$f\"; [ -n \"$R\" ] || mount -t tmpfs -o size=1m tmpfs \"$f\"; }\n")
	for _, m := range p.Mounts {
		fmt.Fprintf(&b, "pmount '%s'\n", octal(m))
	}
	for _, op := range p.Ops {
		if op.Link {
			fmt.Fprintf(&b, "plink '%s' '%s'\n", octal(op.Path), octal(op.Data))
		} else {
			fmt.Fprintf(&b, "plant '%s' '%s'\n", octal(op.Path), octal(op.Data))
		}
	}
	return b.String()
}

// CheckScript is a POSIX sh script that reads the state the plan's
// expectations are about, on a real guest, as root, and prints one line per
// problem (`bad=...`), then `checked=N`.
func (p *Plan) CheckScript() string {
	var b strings.Builder
	b.WriteString("set -u\nn=0\np() { printf '%b.' \"$1\"; }\n")
	b.WriteString("canary() { f=$(p \"$1\"); f=/${f%.}; n=$((n + 1)); s=$(sha256sum <\"$f\" 2>/dev/null | cut -d' ' -f1); [ \"$s\" = \"$2\" ] || echo \"bad=canary $1\"; }\n")
	b.WriteString("klink() { f=$(p \"$1\"); f=/${f%.}; t=$(p \"$2\"); t=/${t%.}; n=$((n + 1)); l=$(readlink \"$f\"; echo .); [ \"${l%?.}\" = \"$t\" ] || echo \"bad=link $1\"; }\n")
	b.WriteString("gone() { f=$(p \"$1\"); f=/${f%.}; n=$((n + 1)); if [ -e \"$f\" ] || [ -L \"$f\" ]; then echo \"bad=left $1\"; fi; }\n")
	b.WriteString("empty() { f=$(p \"$1\"); f=/${f%.}; n=$((n + 1)); [ -f \"$f\" ] && [ ! -s \"$f\" ] || echo \"bad=not-empty $1\"; }\n")
	for _, path := range slices.Sorted(maps.Keys(p.Canaries)) {
		fmt.Fprintf(&b, "canary '%s' %s\n", octal(path), p.Canaries[path])
	}
	for _, path := range slices.Sorted(maps.Keys(p.Links)) {
		fmt.Fprintf(&b, "klink '%s' '%s'\n", octal(path), octal(p.Links[path]))
	}
	for _, path := range p.Gone {
		fmt.Fprintf(&b, "gone '%s'\n", octal(path))
	}
	for _, path := range p.Empty {
		fmt.Fprintf(&b, "empty '%s'\n", octal(path))
	}
	b.WriteString("echo \"checked=$n\"\n")
	return b.String()
}
