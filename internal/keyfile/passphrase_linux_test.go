package keyfile

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: what the test writes to master, a
// program reading the slave sees as typed on a terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

func TestReadPassphrasePromptsOnATerminal(t *testing.T) {
	master, slave := openPTY(t)
	if _, err := master.Write([]byte("typed secret\n")); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	t.Setenv("SEALKEEP_TEST_UNSET_VARIABLE", "")
	os.Unsetenv("SEALKEEP_TEST_UNSET_VARIABLE")
	got, err := ReadPassphrase("", "SEALKEEP_TEST_UNSET_VARIABLE", "Passphrase for jane.p12: ", slave, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "typed secret" {
		t.Fatalf("read %q from the terminal", got)
	}
	if stderr.String() != "Passphrase for jane.p12: \n" {
		t.Fatalf("prompt on stderr = %q", stderr.String())
	}
}
