package cardagent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testModule is a file standing in for the PKCS#11 library: the config
// only checks that it exists.
func testFiles(t *testing.T) (dir, module string) {
	t.Helper()
	dir = t.TempDir()
	module = filepath.Join(dir, "module.so")
	if err := os.WriteFile(module, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, module
}

func TestParseDaemonConfig(t *testing.T) {
	dir, module := testFiles(t)
	y := "authd_url: http://127.0.0.1:8089\nmodule: " + module + "\nsocket: agent.sock\n"
	c, err := ParseDaemonConfig([]byte(y), dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Socket != filepath.Join(dir, "agent.sock") {
		t.Errorf("socket %q not resolved against the file's directory", c.Socket)
	}
	host, _ := os.Hostname()
	want := DaemonConfig{AuthdURL: "http://127.0.0.1:8089", Module: module, Socket: filepath.Join(dir, "agent.sock"),
		WorkstationID: host, Refresh: 5 * time.Minute, RetryMin: 250 * time.Millisecond, RetryMax: 30 * time.Second,
		TokenWait: 5 * time.Second, PINTries: 3, RequestTimeout: 10 * time.Second, Log: LogConfig{Level: "info", Format: "json"}}
	if *c != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", *c, want)
	}
}

// TestDaemonConfigErrors: each bad setting is named, and all of them are
// reported at once.
func TestDaemonConfigErrors(t *testing.T) {
	dir, module := testFiles(t)
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "authd_url: http://127.0.0.1\nmodule: " + module + "\nsocket: s\npin: 123456\n", []string{"field pin not found"}},
		{"two documents", "authd_url: http://127.0.0.1\nmodule: " + module + "\nsocket: s\n---\nx: 1\n", []string{"more than one YAML document"}},
		{"plain http to another host", "authd_url: http://authd.example\nmodule: " + module + "\nsocket: s\n",
			[]string{"authd_url: plain http is only allowed to a loopback host"}},
		{"everything wrong", `authd_url: ftp://x
ca_file: missing.pem
module: opensc-pkcs11.so
socket: /nonexistent/dir/agent.sock
workstation_id: "a\nb"
refresh: 10ms
retry_min: 1ms
retry_max: 1h
token_wait: 2m
request_timeout: 1ms
pin_tries: 99
log: {level: loud, format: xml}
`, []string{"authd_url:", "ca_file:", "module: \"opensc-pkcs11.so\" is not an absolute path", "socket: directory /nonexistent/dir does not exist",
			"workstation_id:", "refresh:", "retry_min:", "retry_max:", "token_wait:", "request_timeout:", "pin_tries:", "log.level:", "log.format:"}},
		{"missing required", "{}\n", []string{"authd_url:", "module: required", "socket: required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDaemonConfig([]byte(tt.yaml), dir)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoadDaemonConfigTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(p, make([]byte, maxConfigSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDaemonConfig(p); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v", err)
	}
}
