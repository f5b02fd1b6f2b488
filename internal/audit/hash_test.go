package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func sampleEntry() Entry {
	return Entry{
		Chain:    "org-1",
		Seq:      7,
		Time:     time.Date(2026, 11, 26, 12, 0, 0, 123456000, time.UTC),
		Actor:    Actor{Kind: "user", ID: "u-1"},
		Action:   ActionVersionRevoke,
		Subject:  Subject{Org: "org-1", Identity: "id-1", Version: 2},
		Details:  map[string]string{DetailReason: "keyCompromise", DetailRevokedAt: "2026-11-26T12:00:00Z"},
		PrevHash: Hash{1, 2, 3},
	}
}

// TestCanonicalKnownAnswer builds the documented encoding by hand, byte by
// byte, and checks Canonical and ComputeHash against it.
func TestCanonicalKnownAnswer(t *testing.T) {
	e := sampleEntry()
	var want []byte
	str := func(s string) {
		want = append(want, byte(len(s)>>24), byte(len(s)>>16), byte(len(s)>>8), byte(len(s)))
		want = append(want, s...)
	}
	u64 := func(v uint64) {
		for i := 7; i >= 0; i-- {
			want = append(want, byte(v>>(8*i)))
		}
	}
	str("sealkeep/audit/v1")
	str("org-1")
	u64(7)
	u64(uint64(e.Time.Unix())*1_000_000 + 123456)
	str("user")
	str("u-1")
	str("version.revoke")
	str("org-1")
	str("id-1")
	u64(2)
	want = append(want, 0, 0, 0, 2)
	str("reason")
	str("keyCompromise")
	str("revoked_at")
	str("2026-11-26T12:00:00Z")
	want = append(want, e.PrevHash[:]...)
	if got := e.Canonical(); !bytes.Equal(got, want) {
		t.Fatalf("Canonical:\n got %x\nwant %x", got, want)
	}
	if got := e.ComputeHash(); got != sha256.Sum256(want) {
		t.Fatalf("ComputeHash mismatch")
	}
	e.Hash = Hash{9}
	if e.ComputeHash() != sha256.Sum256(want) {
		t.Fatal("ComputeHash depends on Hash")
	}
}

// TestCanonicalInjective checks that shifting bytes between adjacent
// variable-length fields changes the encoding.
func TestCanonicalInjective(t *testing.T) {
	a, b := sampleEntry(), sampleEntry()
	a.Actor = Actor{Kind: "us", ID: "eru-1"}
	b.Actor = Actor{Kind: "user", ID: "u-1"}
	if bytes.Equal(a.Canonical(), b.Canonical()) {
		t.Fatal("actor split collides")
	}
	a, b = sampleEntry(), sampleEntry()
	a.Details = map[string]string{"ab": "c"}
	b.Details = map[string]string{"a": "bc"}
	if a.ComputeHash() == b.ComputeHash() {
		t.Fatal("detail split collides")
	}
	a.Details = map[string]string{"a": "", "b": ""}
	b.Details = map[string]string{"a": "\x00\x00\x00\x01b\x00\x00\x00\x00"}
	if a.ComputeHash() == b.ComputeHash() {
		t.Fatal("detail count collides")
	}
	a, b = sampleEntry(), sampleEntry()
	b.Time = b.Time.In(time.FixedZone("x", 3600))
	if a.ComputeHash() != b.ComputeHash() {
		t.Fatal("time zone changes the hash")
	}
}

func TestHashText(t *testing.T) {
	h := sha256.Sum256([]byte("x"))
	b, err := json.Marshal(Hash(h))
	if err != nil {
		t.Fatal(err)
	}
	if want := `"` + hex.EncodeToString(h[:]) + `"`; string(b) != want {
		t.Fatalf("got %s want %s", b, want)
	}
	var back Hash
	if err := json.Unmarshal(b, &back); err != nil || back != h {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{`""`, `"00"`, `"` + string(bytes.ToUpper(b[1:65])) + `"`, `"` + string(b[1:64]) + `g"`, `"` + string(b[1:65]) + `00"`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestComputeHashAllocs(t *testing.T) {
	e := sampleEntry()
	if n := testing.AllocsPerRun(100, func() { e.ComputeHash() }); n != 0 {
		t.Fatalf("ComputeHash allocates %v times", n)
	}
}

// TestParseCanonical: the canonical encoding decodes back to the entry,
// and re-encodes to exactly the same bytes, for entries with and without
// details, extreme integers and empty strings.
func TestParseCanonical(t *testing.T) {
	for _, e := range []Entry{
		{Chain: "acme", Seq: 1, Time: time.UnixMicro(1700000000123456).UTC(), Actor: Actor{Kind: ActorCLI, ID: "root"},
			Action: ActionOrgCreate, Subject: Subject{Org: "acme"}},
		{Chain: "ä", Seq: 1<<64 - 1, Time: time.UnixMicro(-1).UTC(), Action: ActionSeal,
			Subject: Subject{Org: "o", Identity: "i", Version: -7}, PrevHash: Hash{1, 2, 3},
			Details: map[string]string{"z": "", "a": "1", "": "empty key", "m": "\"quoted\"\n"}},
	} {
		b := e.Canonical()
		got, err := ParseCanonical(b)
		if err != nil {
			t.Fatalf("ParseCanonical: %v", err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("ParseCanonical = %+v, want %+v", got, e)
		}
		if !bytes.Equal(got.Canonical(), b) || got.ComputeHash() != sha256.Sum256(b) {
			t.Error("the decoded entry does not encode to the same bytes")
		}
	}
}

// TestParseCanonicalStrict: every form but the canonical one is refused,
// so that no two encodings decode to one entry.
func TestParseCanonicalStrict(t *testing.T) {
	e := Entry{Chain: "acme", Seq: 3, Time: time.UnixMicro(5).UTC(), Actor: Actor{Kind: ActorCLI, ID: "root"}, Action: ActionSeal}
	// with encodes e with the given details, in the order given.
	with := func(count uint32, kv ...string) []byte {
		b := e.AppendCanonical(nil)
		b = b[:len(b)-32-4] // drop the (empty) details and the previous hash
		b = binary.BigEndian.AppendUint32(b, count)
		for _, s := range kv {
			b = appendString(b, s)
		}
		return append(b, e.PrevHash[:]...)
	}
	good := with(2, "a", "1", "b", "2")
	if _, err := ParseCanonical(good); err != nil {
		t.Fatalf("the canonical form: %v", err)
	}
	huge := bytes.Clone(good)
	binary.BigEndian.PutUint32(huge[4+len(hashDomain):], 1<<31) // the chain name's length
	for name, b := range map[string][]byte{
		"empty":          nil,
		"wrong tag":      append(appendString(nil, "sealkeep/audit/v2"), good[4+len(hashDomain):]...),
		"truncated":      good[:len(good)-1],
		"trailing byte":  append(bytes.Clone(good), 0),
		"keys unordered": with(2, "b", "2", "a", "1"),
		"key repeated":   with(2, "a", "1", "a", "2"),
		"count too high": with(3, "a", "1", "b", "2"),
		"huge count":     with(1<<31, "a", "1", "b", "2"),
		"huge length":    huge,
	} {
		if _, err := ParseCanonical(b); !errors.Is(err, ErrCanonical) {
			t.Errorf("%s: ParseCanonical = %v, want ErrCanonical", name, err)
		}
	}
}

// FuzzParseCanonical: whatever decodes encodes back to the same bytes.
func FuzzParseCanonical(f *testing.F) {
	f.Add(Entry{Chain: "c", Seq: 1, Details: map[string]string{"k": "v", "l": "w"}}.Canonical())
	f.Add(Entry{}.Canonical())
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseCanonical(b)
		if err != nil {
			return
		}
		if !bytes.Equal(e.Canonical(), b) {
			t.Fatalf("%x decodes to %+v, which encodes to %x", b, e, e.Canonical())
		}
	})
}

func BenchmarkParseCanonical(b *testing.B) {
	e := Entry{Chain: "org-1", Seq: 12345, Time: time.UnixMicro(1700000000000000).UTC(), Actor: Actor{Kind: "system", ID: "fill"},
		Action: ActionSeal, Subject: Subject{Org: "org-1"}, Details: map[string]string{"i": "12345"}}
	raw := e.Canonical()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCanonical(raw); err != nil {
			b.Fatal(err)
		}
	}
}
