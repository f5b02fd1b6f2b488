package keyfile

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"sealkeep/internal/redact"
)

// MaxPassphraseSize caps what [ReadPassphrase] reads from a passphrase file.
const MaxPassphraseSize = 4096

// ReadPassphrase returns a passphrase from the first source that applies:
//
//  1. file, if not empty: its contents, less one trailing newline, at most
//     [MaxPassphraseSize] bytes (it may be a pipe such as /dev/stdin);
//  2. envVar, if not empty and set in the environment;
//  3. an interactive prompt, if stdin is a terminal: prompt goes to stderr
//     and the typed passphrase is not echoed.
//
// A run with none of these (a script with no file, no variable and no
// terminal) gets an error wrapping [ErrNoPassphrase] that says how to give
// one. Passphrases never come from command-line flag values, which other
// users can read in the process list.
func ReadPassphrase(file, envVar string, prompt string, stdin *os.File, stderr io.Writer) ([]byte, error) {
	if file != "" {
		b, err := readPassphraseFile(file)
		if err != nil {
			return nil, err
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		return b, nil
	}
	if envVar != "" {
		if v, ok := os.LookupEnv(envVar); ok {
			return []byte(v), nil
		}
	}
	if stdin != nil && term.IsTerminal(int(stdin.Fd())) {
		if stderr == nil {
			stderr = io.Discard
		}
		fmt.Fprint(stderr, prompt)
		b, err := term.ReadPassword(int(stdin.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("%w: reading from the terminal: %v", ErrNoPassphrase, err)
		}
		return b, nil
	}
	how := "give a passphrase file"
	if envVar != "" {
		how += " or set $" + envVar
	}
	return nil, fmt.Errorf("%w: %s (no terminal to prompt on)", ErrNoPassphrase, how)
}

// readPassphraseFile reads at most MaxPassphraseSize bytes of file and
// refuses a longer one; it never quotes the content.
func readPassphraseFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read the passphrase file: %v", ErrNoPassphrase, err)
	}
	defer f.Close()
	b, err := redact.ReadSecret(f, MaxPassphraseSize)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read the passphrase file: %v", ErrNoPassphrase, err)
	}
	if len(b) > MaxPassphraseSize {
		clear(b)
		return nil, fmt.Errorf("%w: the passphrase file %s is longer than %d bytes; is it the right file?", ErrNoPassphrase, file, MaxPassphraseSize)
	}
	return b, nil
}
