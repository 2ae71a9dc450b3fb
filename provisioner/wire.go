package provisioner

// The wire between the plugin and its guest scripts, declared once: what a
// script may print (record kinds, with their fields) and the verbs of its
// change records. lib.sh's `rec` prints them; runner.go's fold reads them
// and fails a step on a kind it does not know; the report's docs list the
// verbs; TestWireDeclaresWhatScriptsPrint fails when a script prints a
// kind or a verb that is not here, or when one here is printed by no one.

// recordKind is one kind of record: its name and its fields, in order.
type recordKind struct {
	Name   string
	Fields string
}

// recordKinds are every record kind a guest script may print.
var recordKinds = []recordKind{
	{"fact", "KEY VALUE: a fact of the guest (distribution, kernel, boot id, mail system, ...)"},
	{"change", "VERB TARGET [DETAIL]: a change made (or, in dry run, that would be made); VERB is one of actionVerbs"},
	{"info", "TEXT: shown, kept in the report"},
	{"warn", "TEXT: a warning, shown, kept in the report"},
	{"finding", "CHECK TARGET [DETAIL]: a problem a checking step found"},
	{"count", "NAME N: a number the report keeps"},
	{"reboot", "REASON: the step asks for a reboot"},
	{"output", "ID TEXT: a verify check's output, judged by the verify block"},
	{"error", "TEXT: why the step failed"},
	{"done", "TOKEN STATUS [START END]: the completion record, the script's last (lib.sh amih_exit)"},
}

// actionVerbs are the verbs of change records (and of the reboots the
// runner adds), each with what it means.
var actionVerbs = []struct{ Verb, Doc string }{
	{"remove", "a file, folder or link removed"},
	{"truncate", "a file emptied in place (or, with a second name, replaced by an empty file)"},
	{"empty", "a mailbox emptied"},
	{"write", "a file written"},
	{"reset", "an identity reset (machine id, host keys)"},
	{"clean", "a package cache or cloud-init's state cleaned"},
	{"upgrade", "a package upgraded"},
	{"stop", "a service stopped"},
	{"disable", "a service disabled"},
	{"enable", "a service enabled"},
	{"flush", "the mail queue flushed"},
	{"purge", "the mail queue purged"},
	{"lock", "a password locked"},
	{"vacuum", "the journal's archives removed"},
	{"zero", "a filesystem's free space cleared with zeros (where it holds data, or all of it)"},
	{"discard", "a filesystem's free blocks discarded (fstrim)"},
	{"clear-swap", "a swap area overwritten and made again"},
	{"install", "the final shutdown's unit installed (in /run)"},
	{"hostname", "the running system renamed"},
	{"remove-user", "a user removed (final_shutdown)"},
	{"reboot", "the guest rebooted (added by the runner)"},
}

// knownRecordKind tells whether kind is declared in recordKinds.
func knownRecordKind(kind string) bool {
	for _, k := range recordKinds {
		if k.Name == kind {
			return true
		}
	}
	return false
}

// choice is a setting whose value is one of a fixed set: its block and
// attribute, the script input that carries it ("" when only the plugin
// reads it), its values and its default.
type choice struct {
	Step, Attr, Input string
	Values            []string
	Default           string
}

// choices are declared once, here: each block's validation takes its
// allowed values and default from choiceOf, and TestChoicesAreDeclaredOnce
// checks that the script's header and the attribute's docs list the same
// values.
var choices = []choice{
	{"wait_for_boot", "cloud_init_errors", "AMIH_CLOUD_INIT_ERRORS", []string{"fail", "warn"}, "fail"},
	{"update_packages", "reboot", "AMIH_REBOOT", []string{"always", "if-required", "never"}, "if-required"},
	{"mail_queue", "on_timeout", "AMIH_ON_TIMEOUT", []string{"fail", "purge"}, "fail"},
	{"access_policy", "permit_root_login", "AMIH_PERMIT_ROOT_LOGIN", []string{"prohibit-password", "no", "forced-commands-only"}, "prohibit-password"},
	{"free_space", "mode", "AMIH_MODE", []string{"sparse", "zero", "discard", "both"}, "sparse"},
	{"audit", "on_finding", "", []string{"fail", "warn"}, "fail"},
}

// choiceOf returns the declared choice of a block's attribute.
func choiceOf(step, attr string) choice {
	for _, c := range choices {
		if c.Step == step && c.Attr == attr {
			return c
		}
	}
	panic("ami-hygiene: no choice declared for " + step + "." + attr)
}

// choose sets *value to the choice's default when empty and checks it is
// one of the choice's values; attr is the block's name as the user wrote it.
func (v *validator) choose(attr string, value *string, c choice) {
	if *value == "" {
		*value = c.Default
	}
	v.oneOf(attr+"."+c.Attr, *value, c.Values...)
}
