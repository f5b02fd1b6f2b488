package envelope

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"sealkeep/internal/redact"
)

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// onlyFile fails unless dir holds exactly the file name (no temporary
// files left behind).
func onlyFile(t *testing.T, dir, name string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Name() != name {
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only %s", names, name)
	}
}

// emptyDir fails unless dir is empty.
func emptyDir(t *testing.T, dir string) {
	t.Helper()
	if es, err := os.ReadDir(dir); err != nil || len(es) != 0 {
		t.Errorf("directory %s holds %d entries (%v), want none", dir, len(es), err)
	}
}

func TestCreateKeyringFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring")
	k, err := CreateKeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := mode(t, path); m != 0o600 {
		t.Errorf("keyring file mode %04o, want 0600", m)
	}
	onlyFile(t, dir, "keyring")
	if k.ActiveVersion() != 1 || !slices.Equal(k.Versions(), []uint32{1}) {
		t.Errorf("new keyring: active %d, versions %v", k.ActiveVersion(), k.Versions())
	}
	before, _ := os.ReadFile(path)
	if _, err := CreateKeyringFile(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second CreateKeyringFile: %v, want fs.ErrExist", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("a refused create changed the file")
	}
	onlyFile(t, dir, "keyring")

	// The file holds the key: a reopened keyring unwraps what k wrapped.
	ctx := context.Background()
	d, _ := NewDEK("acme", 1)
	w, v, _ := WrapDEK(ctx, k, d)
	k2, err := OpenKeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnwrapDEK(ctx, k2, "acme", 1, v, w); err != nil {
		t.Errorf("reopened keyring cannot unwrap: %v", err)
	}
	if _, err := CreateKeyringFile(filepath.Join(dir, "missing", "keyring")); err == nil {
		t.Errorf("create in a missing directory succeeded")
	}
}

func TestOpenKeyringPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring")
	if _, err := CreateKeyringFile(path); err != nil {
		t.Fatal(err)
	}
	for _, m := range []fs.FileMode{0o644, 0o640, 0o604, 0o660, 0o602, 0o620, 0o700 | 0o001} {
		if err := os.Chmod(path, m); err != nil {
			t.Fatal(err)
		}
		_, err := OpenKeyringFile(path)
		if !errors.Is(err, ErrKeyringPermissions) || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: %v, want ErrKeyringPermissions saying chmod 600", m, err)
		}
	}
	for _, m := range []fs.FileMode{0o600, 0o400} {
		os.Chmod(path, m)
		if _, err := OpenKeyringFile(path); err != nil {
			t.Errorf("mode %04o refused: %v", m, err)
		}
	}
	if _, err := OpenKeyringFile(filepath.Dir(path)); err == nil {
		t.Errorf("a directory opened as a keyring")
	}
}

// TestOpenKeyringDirectoryPermissions: whoever may write the keyring's
// directory may replace the keyring with one whose keys they know (new DEKs
// would then be wrapped under them), so a directory writable by group or
// others is refused, unless it is sticky (like /tmp: others cannot rename
// over a file they do not own).
func TestOpenKeyringDirectoryPermissions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring")
	k, err := CreateKeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []fs.FileMode{0o770, 0o707, 0o777} {
		if err := os.Chmod(dir, m); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenKeyringFile(path); !errors.Is(err, ErrKeyringPermissions) || !strings.Contains(err.Error(), dir) {
			t.Errorf("directory mode %04o: %v, want ErrKeyringPermissions naming the directory", m, err)
		}
		if _, err := k.AddVersion(context.Background()); !errors.Is(err, ErrKeyringPermissions) {
			t.Errorf("rotation in a directory of mode %04o: %v, want ErrKeyringPermissions", m, err)
		}
	}
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if _, err := CreateKeyringFile(filepath.Join(open, "keyring")); !errors.Is(err, ErrKeyringPermissions) {
		t.Errorf("created a keyring in a directory of mode 0777: %v", err)
	}
	emptyDir(t, open)
	for _, m := range []fs.FileMode{0o700, 0o755, 0o777 | fs.ModeSticky} {
		if err := os.Chmod(dir, m); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenKeyringFile(path); err != nil {
			t.Errorf("directory mode %v refused: %v", m, err)
		}
	}
}

func TestKeyringRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring")
	k, err := CreateKeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stale, _ := OpenKeyringFile(path) // another handle, opened before the rotations
	d, _ := NewDEK("acme", 1)
	w1, _, _ := WrapDEK(ctx, k, d)
	key1 := bytes.Clone(k.kr.versions[0].key.Bytes())
	inode := func() uint64 { fi, _ := os.Stat(path); return fileID(fi) }
	ino := inode()

	v2, err := k.AddVersion(ctx)
	if err != nil || v2 != 2 || k.ActiveVersion() != 2 || !slices.Equal(k.Versions(), []uint32{1, 2}) {
		t.Fatalf("AddVersion = %d, %v; active %d, versions %v", v2, err, k.ActiveVersion(), k.Versions())
	}
	if inode() == ino {
		t.Errorf("the keyring file was rewritten in place, not replaced by rename")
	}
	if m := mode(t, path); m != 0o600 {
		t.Errorf("rotated keyring mode %04o", m)
	}
	onlyFile(t, dir, "keyring")
	if _, err := k.Wrap(ctx, 1, DEKBinding{"acme", 1}, d.key.Bytes()); !errors.Is(err, ErrNotActive) {
		t.Errorf("wrap under an old version: %v, want ErrNotActive", err)
	}
	w2, kv2, _ := WrapDEK(ctx, k, d)
	if _, err := UnwrapDEK(ctx, k, "acme", 1, 1, w1); err != nil {
		t.Errorf("old version no longer unwraps: %v", err)
	}

	// A handle opened earlier re-reads the file before changing it.
	v3, err := stale.AddVersion(ctx)
	if err != nil || v3 != 3 {
		t.Fatalf("AddVersion through a stale handle = %d, %v", v3, err)
	}
	reopened, err := OpenKeyringFile(path)
	if err != nil || !slices.Equal(reopened.Versions(), []uint32{1, 2, 3}) {
		t.Fatalf("after two rotations the file has %v (%v)", reopened.Versions(), err)
	}
	if _, err := UnwrapDEK(ctx, reopened, "acme", 1, kv2, w2); err != nil {
		t.Errorf("version 2 lost: %v", err)
	}

	for v, want := range map[uint32]error{3: ErrRetireActive, 9: ErrUnknownKEKVersion} {
		if err := reopened.Retire(ctx, v); !errors.Is(err, want) {
			t.Errorf("Retire(%d) = %v, want %v", v, err, want)
		}
	}
	if err := reopened.Retire(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := reopened.Retire(ctx, 1); err != nil {
		t.Errorf("retiring a retired version again: %v", err)
	}
	if _, err := UnwrapDEK(ctx, reopened, "acme", 1, 1, w1); !errors.Is(err, ErrRetired) {
		t.Errorf("unwrap under a retired version: %v, want ErrRetired", err)
	}
	if !slices.Equal(reopened.Versions(), []uint32{2, 3}) {
		t.Errorf("versions after retiring 1: %v", reopened.Versions())
	}
	data, _ := os.ReadFile(path)
	if !bytes.Contains(data, []byte("\nkey 1 retired\n")) {
		t.Errorf("retired version not marked in the file")
	}
	if form, found := redact.ScanForSecret(data, key1); found {
		t.Errorf("the retired key is still in the file (%s)", form)
	}
	after, _ := OpenKeyringFile(path)
	if _, err := UnwrapDEK(ctx, after, "acme", 1, 1, w1); !errors.Is(err, ErrRetired) {
		t.Errorf("reopened: unwrap under a retired version: %v", err)
	}
}

// TestKeyringFailedRotation checks that a rotation that cannot read the
// file changes neither the file nor the keyring.
func TestKeyringFailedRotation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyring")
	k, _ := CreateKeyringFile(path)
	before, _ := os.ReadFile(path)
	os.Chmod(path, 0o644)
	if _, err := k.AddVersion(ctx); !errors.Is(err, ErrKeyringPermissions) {
		t.Errorf("AddVersion on a 0644 file: %v", err)
	}
	if err := os.WriteFile(path, append(bytes.Clone(before), 'x'), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o600)
	if _, err := k.AddVersion(ctx); !errors.Is(err, ErrMalformed) {
		t.Errorf("AddVersion on a corrupt file: %v", err)
	}
	if k.ActiveVersion() != 1 || !slices.Equal(k.Versions(), []uint32{1}) {
		t.Errorf("failed rotations changed the keyring: %v", k.Versions())
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := k.AddVersion(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("AddVersion with a cancelled context: %v", err)
	}
}

func TestKeyringFromEnv(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyring")
	k, _ := CreateKeyringFile(path)
	d, _ := NewDEK("acme", 1)
	w, v, _ := WrapDEK(ctx, k, d)
	data, _ := os.ReadFile(path)
	for _, value := range []string{string(data), strings.TrimSuffix(string(data), "\n")} {
		e, err := KeyringFromEnv(value)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UnwrapDEK(ctx, e, "acme", 1, v, w); err != nil {
			t.Errorf("environment keyring cannot unwrap: %v", err)
		}
		if _, err := e.AddVersion(ctx); !errors.Is(err, ErrReadOnly) {
			t.Errorf("AddVersion on an environment keyring: %v", err)
		}
		if err := e.Retire(ctx, 1); !errors.Is(err, ErrReadOnly) {
			t.Errorf("Retire on an environment keyring: %v", err)
		}
	}
	if _, err := KeyringFromEnv(""); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty environment value: %v", err)
	}
}

// withChecksum appends a correct checksum line to body.
func withChecksum(body string) string {
	sum := sha256.Sum256([]byte(body))
	return body + checksumPrefix + hex.EncodeToString(sum[:]) + "\n"
}

const (
	keyA = "ZXhhbXBsZSBLRUssIG5ldmVyIHVzZTogMzIgYnl0ZXM="
	keyB = "c2Vjb25kIGV4YW1wbGUgS0VLLCAzMiBieXRlcyBsb24="
)

func TestParseKeyring(t *testing.T) {
	good := withChecksum("sealkeep-keyring v1\nactive 3\nkey 1 retired\nkey 2 " + keyA + "\nkey 3 " + keyB + "\n")
	kr, err := parseKeyring([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if kr.active != 3 || len(kr.versions) != 3 || kr.versions[0].key != nil || string(kr.versions[1].key.Bytes()) != "example KEK, never use: 32 bytes" {
		t.Errorf("parsed %v", kr.versions)
	}
	if out := kr.marshal(); string(out) != good {
		t.Errorf("marshal does not round-trip:\n%s", out)
	}

	secrets := [][]byte{[]byte("example KEK, never use: 32 bytes")}
	for name, text := range map[string]string{
		"empty":              "",
		"format":             withChecksum("sealkeep-keyring v2\nactive 1\nkey 1 " + keyA + "\n"),
		"no active":          withChecksum("sealkeep-keyring v1\nkey 1 " + keyA + "\nkey 2 " + keyB + "\n"),
		"active retired":     withChecksum("sealkeep-keyring v1\nactive 1\nkey 1 retired\nkey 2 " + keyA + "\n"),
		"active missing":     withChecksum("sealkeep-keyring v1\nactive 5\nkey 1 " + keyA + "\n"),
		"active 0":           withChecksum("sealkeep-keyring v1\nactive 0\nkey 1 " + keyA + "\n"),
		"leading zero":       withChecksum("sealkeep-keyring v1\nactive 01\nkey 01 " + keyA + "\n"),
		"version too big":    withChecksum("sealkeep-keyring v1\nactive 4294967296\nkey 4294967296 " + keyA + "\n"),
		"sign":               withChecksum("sealkeep-keyring v1\nactive +1\nkey +1 " + keyA + "\n"),
		"duplicate version":  withChecksum("sealkeep-keyring v1\nactive 1\nkey 1 " + keyA + "\nkey 1 " + keyB + "\n"),
		"decreasing":         withChecksum("sealkeep-keyring v1\nactive 2\nkey 2 " + keyA + "\nkey 1 " + keyB + "\n"),
		"short key":          withChecksum("sealkeep-keyring v1\nactive 1\nkey 1 " + keyA[:40] + "\n"),
		"long key":           withChecksum("sealkeep-keyring v1\nactive 1\nkey 1 " + keyA + "AAAA\n"),
		"unpadded key":       withChecksum("sealkeep-keyring v1\nactive 1\nkey 1 " + strings.TrimRight(keyA, "=") + "\n"),
		"url base64":         withChecksum("sealkeep-keyring v1\nactive 1\nkey 1 " + strings.NewReplacer("+", "-", "/", "_").Replace(keyA[:43]) + "-\n"),
		"non-zero pad bits":  withChecksum("sealkeep-keyring v1\nactive 1\nkey 1 " + keyA[:42] + "N=\n"),
		"CRLF":               withChecksum("sealkeep-keyring v1\r\nactive 1\r\nkey 1 " + keyA + "\r\n"),
		"CR in key":          withChecksum("sealkeep-keyring v1\nactive 1\nkey 1 " + keyA[:20] + "\r" + keyA[21:] + "\n"),
		"double space":       withChecksum("sealkeep-keyring v1\nactive 1\nkey  1 " + keyA + "\n"),
		"trailing space":     withChecksum("sealkeep-keyring v1\nactive 1\nkey 1 " + keyA + " \n"),
		"blank line":         withChecksum("sealkeep-keyring v1\nactive 1\n\nkey 1 " + keyA + "\n"),
		"no checksum":        "sealkeep-keyring v1\nactive 1\nkey 1 " + keyA + "\n",
		"wrong checksum":     strings.Replace(good, "active 3", "active 2", 1),
		"upper-case sum":     good[:len(good)-65] + strings.ToUpper(good[len(good)-65:]),
		"two final newlines": good + "\n",
		"after checksum":     good + "key 4 " + keyA + "\n",
		"huge":               withChecksum("sealkeep-keyring v1\nactive 1\nkey 1 " + keyA + "\n" + strings.Repeat("#", maxKeyringSize)),
	} {
		kr, err := parseKeyring([]byte(text))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: parse error %v, want ErrMalformed", name, err)
			continue
		}
		if kr.versions != nil {
			t.Errorf("%s: a failed parse returned versions", name)
		}
		for _, s := range secrets {
			if form, found := redact.ScanForSecret([]byte(err.Error()), s); found {
				t.Errorf("%s: the error quotes key material (%s): %v", name, form, err)
			}
		}
	}
}

func TestKeyringRedaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring")
	k, _ := CreateKeyringFile(path)
	k.AddVersion(context.Background())
	env, _ := os.ReadFile(path)
	e, _ := KeyringFromEnv(string(env))
	d, _ := NewDEK("acme", 2)
	var keys [][]byte
	for _, kv := range k.kr.versions {
		keys = append(keys, kv.key.Bytes())
	}
	keys = append(keys, d.key.Bytes())
	out := formatAll(t, k, e, d, *d, struct {
		K *Keyring
		D *DEK
		d DEK
	}{k, d, *d})
	for _, key := range keys {
		if form, found := redact.ScanForSecret(out, key); found {
			t.Errorf("a key leaks (%s) in:\n%s", form, out)
		}
	}
	for _, want := range []string{`envelope.DEK{org: "acme", version: 2, key: [REDACTED]}`, `active: 2, versions: [1 2], keys: [REDACTED]}`, `source: "environment"`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %s", want)
		}
	}
}

// TestKeyringSwappedUnderneath: a rotation refuses to proceed on a file
// that no longer holds the keys this process loaded.
func TestKeyringSwappedUnderneath(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring")
	k, _ := CreateKeyringFile(path)
	if _, err := CreateKeyringFile(filepath.Join(dir, "other")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "other"), path); err != nil {
		t.Fatal(err)
	}
	swapped, _ := os.ReadFile(path)
	if _, err := k.AddVersion(ctx); !errors.Is(err, ErrKeyringChanged) {
		t.Errorf("AddVersion over a swapped file: %v, want ErrKeyringChanged", err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, swapped) {
		t.Errorf("a refused rotation changed the file")
	}

	// Versions missing from the file are refused too.
	k2, _ := OpenKeyringFile(path)
	k3, _ := OpenKeyringFile(path)
	if _, err := k2.AddVersion(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, swapped, 0o600); err != nil { // back to version 1 only
		t.Fatal(err)
	}
	if _, err := k2.AddVersion(ctx); !errors.Is(err, ErrKeyringChanged) {
		t.Errorf("AddVersion over a file missing version 2: %v", err)
	}
	if _, err := k3.AddVersion(ctx); err != nil {
		t.Errorf("a handle that knows only version 1 refused: %v", err)
	}
}

// TestKeyringLeftoverTempFile: a temporary file left by a process killed
// during a rotation changes nothing.
func TestKeyringLeftoverTempFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring")
	k, _ := CreateKeyringFile(path)
	if err := os.WriteFile(filepath.Join(dir, ".sealkeep-keyring-123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenKeyringFile(path); err != nil {
		t.Errorf("open with a leftover temporary file: %v", err)
	}
	if v, err := k.AddVersion(context.Background()); err != nil || v != 2 {
		t.Errorf("rotate with a leftover temporary file: %d, %v", v, err)
	}
	onlyFile(t, dir, "keyring")
}

// TestKeyringRotationErasesCrashCopies: a process killed between writing
// the temporary copy of the keyring and renaming it leaves a file holding
// every KEK of its time. Retiring a version must not leave its key on disk
// there, or crypto-erasure of old backups fails.
func TestKeyringRotationErasesCrashCopies(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring")
	k, err := CreateKeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	crashCopy := filepath.Join(dir, ".sealkeep-keyring-4242")
	if err := os.WriteFile(crashCopy, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddVersion(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.Retire(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(crashCopy); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a copy of the keyring holding retired KEK version 1 survives the rotation (%v)", err)
	}
	onlyFile(t, dir, "keyring")
}

// TestKeyringSymlink: rotating a keyring reached through a symbolic link
// replaces the link's target and keeps the link.
func TestKeyringSymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "secrets", "keyring")
	link := filepath.Join(dir, "kek.keyring")
	if _, err := CreateKeyringFile(target); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("secrets", "keyring"), link); err != nil {
		t.Fatal(err)
	}
	k, err := OpenKeyringFile(link)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddVersion(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the symbolic link was replaced by a file (%v)", err)
	}
	onlyFile(t, filepath.Join(dir, "secrets"), "keyring")
	if k2, err := OpenKeyringFile(target); err != nil || !slices.Equal(k2.Versions(), []uint32{1, 2}) {
		t.Errorf("the link target was not rotated: %v", err)
	}
}

// TestKeyringConcurrentRotation: several keyrings opened on one file (as
// several sealkeep processes would) rotate at the same time. Every version
// each of them added, and may already have wrapped DEKs under, must be the
// one the file keeps: a rotation that overwrote another's new version would
// make the DEKs wrapped under it unreadable.
func TestKeyringConcurrentRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring")
	if _, err := CreateKeyringFile(path); err != nil {
		t.Fatal(err)
	}
	const instances, rotations = 4, 8
	rings := make([]*Keyring, instances)
	for i := range rings {
		k, err := OpenKeyringFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rings[i] = k
	}
	added := make([][]uint32, instances)
	var wg sync.WaitGroup
	for i, k := range rings {
		wg.Go(func() {
			for range rotations {
				v, err := k.AddVersion(ctx)
				if err != nil {
					t.Errorf("instance %d: %v", i, err)
					return
				}
				added[i] = append(added[i], v)
			}
		})
	}
	wg.Wait()
	final, err := OpenKeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(final.Versions()); got != 1+instances*rotations {
		t.Errorf("the file holds %d versions, want %d", got, 1+instances*rotations)
	}
	for i, k := range rings {
		for _, v := range added[i] {
			mine, _ := k.kr.key(v)
			kept, err := final.kr.key(v)
			if err != nil || !mine.Equal(kept) {
				t.Errorf("instance %d added version %d, but the file holds another key for it (%v)", i, v, err)
			}
		}
	}
	onlyFile(t, dir, "keyring")
}
