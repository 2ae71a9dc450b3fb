//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// The QEMU guest agent: how the tests read the guest without SSH and
// without the plugin.

// Exec runs a shell script as root on the guest through the QEMU guest
// agent — a channel that does not depend on SSH, keys or the plugin — and
// returns its combined output and exit code.
func (vm *VM) Exec(script string, timeout time.Duration) (string, int, error) {
	conn, err := net.DialTimeout("unix", vm.qgaPath(), 5*time.Second)
	if err != nil {
		return "", 0, err
	}
	defer conn.Close()
	deadline := time.Now().Add(timeout)
	conn.SetDeadline(deadline)
	dec := json.NewDecoder(conn)
	call := func(req map[string]interface{}, resp interface{}) error {
		data, _ := json.Marshal(req)
		if _, err := conn.Write(append(data, '\n')); err != nil {
			return err
		}
		var envelope struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Desc string `json:"desc"`
			} `json:"error"`
		}
		for {
			if err := dec.Decode(&envelope); err != nil {
				return err
			}
			if envelope.Error != nil {
				return fmt.Errorf("guest agent: %s", envelope.Error.Desc)
			}
			if envelope.Return != nil {
				return json.Unmarshal(envelope.Return, resp)
			}
		}
	}
	syncID := time.Now().UnixNano() % 1000000
	var got int64
	for got != syncID {
		if err := call(map[string]interface{}{"execute": "guest-sync", "arguments": map[string]interface{}{"id": syncID}}, &got); err != nil {
			return "", 0, err
		}
	}
	var started struct {
		PID int `json:"pid"`
	}
	if err := call(map[string]interface{}{"execute": "guest-exec", "arguments": map[string]interface{}{
		"path": "/bin/sh", "arg": []string{"-c", script + " 2>&1"}, "capture-output": true,
	}}, &started); err != nil {
		return "", 0, err
	}
	for time.Now().Before(deadline) {
		var status struct {
			Exited   bool   `json:"exited"`
			ExitCode int    `json:"exitcode"`
			OutData  string `json:"out-data"`
		}
		if err := call(map[string]interface{}{"execute": "guest-exec-status", "arguments": map[string]interface{}{"pid": started.PID}}, &status); err != nil {
			return "", 0, err
		}
		if status.Exited {
			out, _ := base64.StdEncoding.DecodeString(status.OutData)
			return string(out), status.ExitCode, nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return "", 0, fmt.Errorf("guest command still running after %s", timeout)
}

// WaitAgent waits until the guest agent answers.
func (vm *VM) WaitAgent(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if vm.Exited() {
			return fmt.Errorf("qemu exited")
		}
		if _, _, err = vm.Exec("true", 20*time.Second); err == nil {
			return nil
		}
		time.Sleep(3 * time.Second)
	}
	return fmt.Errorf("the guest agent did not answer within %s: %v", timeout, err)
}
