package provisioner

import (
	"embed"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/internal/shellquote"
)

// Building a guest script: what the plugin sends to the guest's sh for one
// step is the step's inputs as exported variables, lib.sh (the helpers every
// step shares) and the step's own script, all embedded in the plugin.

//go:embed scripts/*.sh
var scripts embed.FS

// scriptText returns an embedded guest script.
func scriptText(name string) string {
	b, err := scripts.ReadFile("scripts/" + name)
	if err != nil {
		panic(fmt.Sprintf("ami-hygiene: missing embedded script %s", name))
	}
	return string(b)
}

// envVar is one input of a guest script.
type envVar struct {
	Name, Value string
}

// envName is the form of every script input's name.
var envName = regexp.MustCompile(`^AMIH_[A-Z0-9_]+$`)

// scriptBody assembles what the guest's sh runs: the inputs as exported
// variables, the shared helpers, then the script.
func scriptBody(env []envVar, script string) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	for _, e := range env {
		if !envName.MatchString(e.Name) {
			panic("ami-hygiene: bad script input name " + e.Name)
		}
		fmt.Fprintf(&b, "%s=%s; export %s\n", e.Name, shellquote.Quote(e.Value), e.Name)
	}
	b.WriteString(scriptText("lib.sh"))
	b.WriteString(scriptText(script))
	return b.String()
}

// runInputs are the inputs every step script gets from the run.
func runInputs(opts runOptions) []envVar {
	return []envVar{{"AMIH_DRY_RUN", flag(opts.dryRun)}}
}

// stepScript is the whole script of one step: the run-wide inputs, the
// guest helper's (empty but for a step that uses it), the step's own inputs,
// lib.sh and the step's script.
func stepScript(opts runOptions, def stepDef, cfg stepConfig, helper guestHelper) string {
	env := append(runInputs(opts), envVar{"AMIH_OVERWRITE", flag(def.Secrets)})
	env = append(env, helper.env()...)
	return scriptBody(append(env, cfg.env()...), def.script())
}

// lines joins list inputs into one newline-separated value; validation
// guarantees that no item contains a newline.
func lines(items []string) string { return strings.Join(items, "\n") }

// seconds renders a duration as whole seconds, at least 1.
func seconds(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// secondsOrZero renders a duration as whole seconds, 0 allowed.
func secondsOrZero(d time.Duration) string {
	if d < time.Second {
		return "0"
	}
	return seconds(d)
}

// flag renders a boolean as "1" or "0".
func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
