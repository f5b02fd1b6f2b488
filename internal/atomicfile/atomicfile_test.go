//go:build unix

package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// write creates path through a File with opts and commits data.
func write(t *testing.T, path string, opts Options, data string) error {
	t.Helper()
	f, err := Create(path, opts)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	return f.Commit()
}

// leftovers returns the temporary files in dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*"+tempInfix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCreateCommit(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.pdf")
	f, err := Create(out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Base(f.Name())
	if !strings.HasPrefix(base, ".out.pdf"+tempInfix) || filepath.Dir(f.Name()) != dir {
		t.Fatalf("temporary file %s: want .out.pdf%s* in %s", f.Name(), tempInfix, dir)
	}
	fi, err := os.Stat(f.Name())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("temporary file mode %v, %v; want 0600", fi.Mode(), err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("the target exists before Commit: %v", err)
	}
	f.WriteString("sealed")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // after Commit: nothing
	if b, err := os.ReadFile(out); err != nil || string(b) != "sealed" {
		t.Fatalf("read %q, %v", b, err)
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Fatalf("left behind: %v", l)
	}
	if err := f.Commit(); !errors.Is(err, ErrAborted) {
		t.Fatalf("second Commit: %v, want ErrAborted", err)
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(in, []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	inInfo, err := os.Stat(in)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string, make func(string) error) string {
		p := filepath.Join(dir, name)
		if err := make(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hard := mk("hard.pdf", func(p string) error { return os.Link(in, p) })
	sym := mk("sym.pdf", func(p string) error { return os.Symlink(in, p) })
	symDir := mk("symdir", func(p string) error { return os.Symlink(dir, p) })
	sub := mk("sub", func(p string) error { return os.Mkdir(p, 0o755) })
	fifo := mk("fifo", func(p string) error { return syscall.Mkfifo(p, 0o600) })
	dangling := mk("dangling.pdf", func(p string) error { return os.Symlink(filepath.Join(dir, "nothing"), p) })
	other := mk("other.pdf", func(p string) error { return os.WriteFile(p, []byte("other"), 0o644) })
	inputs := Options{Inputs: []os.FileInfo{inInfo}, Overwrite: true}
	for _, tc := range []struct {
		name, path string
		opts       Options
		want       error
	}{
		{"same path", in, inputs, ErrSameFile},
		{"same path, relative", dir + "/./sub/../in.pdf", inputs, ErrSameFile},
		{"hard link", hard, inputs, ErrSameFile},
		{"symbolic link", sym, inputs, ErrSameFile},
		{"directory", sub, inputs, ErrNotRegular},
		{"directory with a slash", sub + "/", inputs, ErrNotRegular},
		{"a new name with a slash", filepath.Join(dir, "new") + "/", inputs, ErrNotRegular},
		{"link to a directory", symDir, inputs, ErrNotRegular},
		{"/dev/null", os.DevNull, inputs, ErrNotRegular},
		{"named pipe", fifo, inputs, ErrNotRegular},
		{"existing file", other, Options{Inputs: inputs.Inputs}, ErrExists},
		{"dangling link", dangling, Options{}, ErrExists},
		{"empty", "", inputs, ErrNotRegular},
	} {
		err := write(t, tc.path, tc.opts, "sealed")
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	for p, want := range map[string]string{in: "original", other: "other"} {
		if b, _ := os.ReadFile(p); string(b) != want {
			t.Errorf("%s changed to %q", p, b)
		}
	}
	if fi, err := os.Lstat(os.DevNull); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("%s is no longer a device: %v %v", os.DevNull, fi.Mode(), err)
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Fatalf("left behind: %v", l)
	}
	// With Overwrite: an existing file is replaced, and a link is replaced
	// by the file (not the file it points to).
	if err := write(t, other, inputs, "sealed"); err != nil {
		t.Fatal(err)
	}
	if err := write(t, dangling, inputs, "sealed"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{other, dangling} {
		fi, err := os.Lstat(p)
		if b, _ := os.ReadFile(p); err != nil || !fi.Mode().IsRegular() || string(b) != "sealed" {
			t.Errorf("%s: %v %v %q, want the regular file written", p, fi.Mode(), err, b)
		}
	}
}

// TestCommitRechecks: a target that appears, or turns into a directory,
// while the file is written is not replaced.
func TestCommitRechecks(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.pdf")
	for _, tc := range []struct {
		name  string
		opts  Options
		make  func() error
		want  error
		check func() bool
	}{
		{"appeared", Options{}, func() error { return os.WriteFile(out, []byte("theirs"), 0o644) }, ErrExists,
			func() bool { b, _ := os.ReadFile(out); return string(b) == "theirs" }},
		{"became a directory", Options{Overwrite: true}, func() error { return os.Mkdir(out, 0o755) }, ErrNotRegular,
			func() bool { fi, err := os.Stat(out); return err == nil && fi.IsDir() }},
	} {
		os.RemoveAll(out)
		f, err := Create(out, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("mine")
		if err := tc.make(); err != nil {
			t.Fatal(err)
		}
		if err := f.Commit(); !errors.Is(err, tc.want) {
			t.Errorf("%s: Commit: %v, want %v", tc.name, err, tc.want)
		}
		if !tc.check() {
			t.Errorf("%s: the target was replaced", tc.name)
		}
		if l := leftovers(t, dir); len(l) != 0 {
			t.Errorf("%s: left behind: %v", tc.name, l)
		}
	}
}

func TestAbortAndStale(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.pdf")
	live, err := Create(out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A file like the one a killed process leaves: the name, no lock.
	dead := filepath.Join(dir, ".out.pdf"+tempInfix+"123")
	if err := os.WriteFile(dead, []byte("%PDF-1.7 partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Another target's temporary file is not this target's.
	if err := os.WriteFile(filepath.Join(dir, ".other.pdf"+tempInfix+"1"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	stale, err := Stale(out)
	if err != nil || len(stale) != 1 || stale[0] != dead {
		t.Fatalf("Stale = %v, %v; want only %s (not the live %s)", stale, err, dead, live.Name())
	}
	live.Abort()
	live.Abort()
	if _, err := os.Stat(live.Name()); !os.IsNotExist(err) {
		t.Fatalf("Abort left %s: %v", live.Name(), err)
	}
	if err := live.Commit(); !errors.Is(err, ErrAborted) {
		t.Fatalf("Commit after Abort: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("the target exists after Abort: %v", err)
	}
}

func TestLongName(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, strings.Repeat("n", 250)+".pdf")
	if err := write(t, out, Options{}, "x"); err != nil {
		t.Fatal(err)
	}
	if stale, err := Stale(out); err != nil || len(stale) != 0 {
		t.Fatalf("Stale = %v, %v", stale, err)
	}
}

// TestSwappedTemporaryFile: in a directory that others can write (without
// the sticky bit), someone renames the temporary file away while it is
// written and puts their own file under its name. Commit places files by
// name, so it must check that the file it places is the one written:
// otherwise the target would get the other file's bytes (a forged "sealed"
// PDF) and the writer would report success.
func TestSwappedTemporaryFile(t *testing.T) {
	for _, overwrite := range []bool{false, true} {
		dir := t.TempDir()
		out := filepath.Join(dir, "out.pdf")
		if overwrite {
			if err := os.WriteFile(out, []byte("previous"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		f, err := Create(out, Options{Overwrite: overwrite})
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("mine")
		tmp := f.Name()
		if err := os.Rename(tmp, filepath.Join(dir, "stolen")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tmp, []byte("theirs"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := f.Commit(); !errors.Is(err, ErrReplaced) {
			t.Errorf("overwrite %v: Commit: %v, want ErrReplaced", overwrite, err)
		}
		want := ""
		if overwrite {
			want = "previous"
		}
		if b, _ := os.ReadFile(out); string(b) != want {
			t.Errorf("overwrite %v: the target holds %q, want %q", overwrite, b, want)
		}
	}
}

// TestSwappedDirectory: the target's directory is reached through a
// symbolic link that someone else controls, and they point it at another
// directory of the writer's (holding a file of the target's name) between
// Create and Commit. The temporary file is named through the same path, so
// Commit finds no file written there and neither moves nor replaces
// anything in the other directory, even with Overwrite.
func TestSwappedDirectory(t *testing.T) {
	base := t.TempDir()
	theirs, mine := filepath.Join(base, "theirs"), filepath.Join(base, "mine")
	for _, d := range []string{theirs, mine} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	precious := filepath.Join(mine, "out.pdf")
	if err := os.WriteFile(precious, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(theirs, link); err != nil {
		t.Fatal(err)
	}
	f, err := Create(filepath.Join(link, "out.pdf"), Options{Overwrite: true})
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("sealed")
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(mine, link); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); !errors.Is(err, ErrReplaced) {
		t.Errorf("Commit after the directory was swapped: %v, want ErrReplaced", err)
	}
	if b, _ := os.ReadFile(precious); string(b) != "precious" {
		t.Errorf("the other directory's file became %q", b)
	}
	if l := leftovers(t, mine); len(l) != 0 {
		t.Errorf("left in the other directory: %v", l)
	}
}

// TestNoSync: a scratch output (NoSync) is placed whole on Commit, leaves
// no temporary file, and is refused like any other (an existing target).
func TestNoSync(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "sealed.pdf")
	if err := write(t, out, Options{NoSync: true}, "sealed"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "sealed" {
		t.Fatalf("read back %q, %v", b, err)
	}
	if err := write(t, out, Options{NoSync: true}, "again"); !errors.Is(err, ErrExists) {
		t.Fatalf("over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "sealed" {
		t.Fatalf("the target changed to %q", b)
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Fatalf("left %v", l)
	}
}
