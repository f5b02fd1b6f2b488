package fileperm

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestModes(t *testing.T) {
	for _, tc := range []struct {
		mode                 fs.FileMode
		private, notWritable bool // passes
	}{
		{0o600, true, true},
		{0o400, true, true},
		{0o700, true, true},
		{0o640, false, true},
		{0o604, false, true},
		{0o644, false, true},
		{0o620, false, false},
		{0o602, false, false},
		{0o666, false, false},
		{0o777 | fs.ModeSticky, false, false},
	} {
		for _, c := range []struct {
			name string
			fn   func(string, fs.FileMode) error
			pass bool
			fix  string
		}{{"Private", Private, tc.private, "run chmod 600 /d/f"}, {"NotWritable", NotWritable, tc.notWritable, "run chmod go-w /d/f"}} {
			err := c.fn("/d/f", tc.mode)
			switch {
			case c.pass && err != nil:
				t.Errorf("%s(%v) = %v, want nil", c.name, tc.mode, err)
			case !c.pass && (!errors.Is(err, ErrTooOpen) || !strings.HasPrefix(err.Error(), "/d/f has mode ") || !strings.HasSuffix(err.Error(), c.fix)):
				t.Errorf("%s(%v) = %v, want ErrTooOpen naming /d/f and %q", c.name, tc.mode, err, c.fix)
			}
		}
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "db")
	if err := NotWritableFile(p); err != nil {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for mode, ok := range map[fs.FileMode]bool{0o600: true, 0o644: true, 0o660: false, 0o606: false} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := NotWritableFile(p); (err == nil) != ok || (!ok && !errors.Is(err, ErrTooOpen)) {
			t.Errorf("file of mode %04o: %v", mode, err)
		}
	}
	// A link is judged by what it names.
	if err := os.Symlink(p, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := NotWritableFile(filepath.Join(dir, "link")); !errors.Is(err, ErrTooOpen) {
		t.Errorf("link to a writable file: %v", err)
	}
	if err := NotWritableFile(filepath.Join(p, "x")); err == nil || errors.Is(err, ErrTooOpen) {
		t.Errorf("stat error: %v", err)
	}

	for mode, ok := range map[fs.FileMode]bool{0o700: true, 0o755: true, 0o770: false, 0o777: false, 0o777 | fs.ModeSticky: true} {
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		err := Dir(dir, "the database")
		if (err == nil) != ok || (!ok && (!errors.Is(err, ErrTooOpen) || !strings.Contains(err.Error(), "run chmod go-w "+dir))) {
			t.Errorf("directory of mode %v: %v", mode, err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Dir(filepath.Join(dir, "none"), "x"); err == nil || errors.Is(err, ErrTooOpen) {
		t.Errorf("missing directory: %v", err)
	}
}

// TestDirs: a link is judged by both directories.
func TestDirs(t *testing.T) {
	base := t.TempDir()
	private, shared := filepath.Join(base, "private"), filepath.Join(base, "shared")
	for _, d := range []string{private, shared} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(shared, "key")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(private, "key")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := Dirs(link, "the key"); err != nil {
		t.Fatalf("both private: %v", err)
	}
	if err := os.Chmod(shared, 0o770); err != nil {
		t.Fatal(err)
	}
	if err := Dirs(link, "the key"); !errors.Is(err, ErrTooOpen) || !strings.Contains(err.Error(), shared) {
		t.Errorf("link target in a group-writable directory: %v", err)
	}
	if err := Dirs(target, "the key"); !errors.Is(err, ErrTooOpen) {
		t.Errorf("file in a group-writable directory: %v", err)
	}
	if err := Dirs(filepath.Join(private, "none"), "x"); err == nil || errors.Is(err, ErrTooOpen) {
		t.Errorf("missing file: %v", err)
	}
}
