package pcsctest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/carespine/spineauth/testkeys/pcsctest"
)

// A private pcscd, its readers as a PC/SC client (opensc-tool) lists them,
// and cleanup. In a test, pcsctest.Start(t) does the start and the cleanup.
func ExampleNew() {
	d, err := pcsctest.New(context.Background(), "")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(d.Dir)
	defer d.Close()
	cmd := exec.Command("opensc-tool", "--list-readers")
	cmd.Env = d.Env()
	out, _ := cmd.Output()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, pcsctest.FriendlyName) {
			fmt.Println(strings.Join(strings.Fields(line), " "))
		}
	}
	// Output:
	// 0 No Virtual PCD 00 00
	// 1 No Virtual PCD 00 01
}
