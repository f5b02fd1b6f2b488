package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestJSONLRoundTrip(t *testing.T) {
	c := buildChain(50)
	c[3].Details = nil
	c[4].Details[DetailError] = "quote \" backslash \\ newline \n tab \t <html> & ünïcödé \u2028"
	c[5].Actor = Actor{Kind: "cli", ID: "root"}
	c = relink(c)
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, Slice(c)); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 50 {
		t.Fatalf("%d lines", n)
	}
	var back []Entry
	for e, err := range DecodeJSONL(&buf) {
		if err != nil {
			t.Fatal(err)
		}
		back = append(back, e)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip differs:\n%+v\n%+v", back[4], c[4])
	}
	if r := Verify(Slice(back)); !r.OK() {
		t.Fatal(r.Break)
	}
}

// TestJSONLGolden pins the wire form: field names, lowercase hex hashes,
// RFC 3339 UTC times.
func TestJSONLGolden(t *testing.T) {
	e := Entry{
		Chain: "org-a", Seq: 1, Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("x", 3600)),
		Actor: Actor{Kind: "user", ID: "u-1"}, Action: ActionCertImport,
		Subject: Subject{Org: "org-a", Identity: "id-1", Version: 1},
		Details: map[string]string{DetailThumbprint: "ab"},
	}
	e.Hash = e.ComputeHash()
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, Slice([]Entry{e})); err != nil {
		t.Fatal(err)
	}
	want := `{"chain":"org-a","seq":1,"time":"2026-01-02T02:04:05.000006Z","actor":{"kind":"user","id":"u-1"},"action":"cert.import",` +
		`"subject":{"org":"org-a","identity":"id-1","version":1},"details":{"thumbprint":"ab"},` +
		`"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"` + e.Hash.String() + "\"}\n"
	if buf.String() != want {
		t.Fatalf("got  %s\nwant %s", buf.String(), want)
	}
	// encoding/json (v1) of an Entry, as API handlers write it, parses too.
	v1, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseEntry(v1)
	if err != nil || back.Hash != e.ComputeHash() || back.ComputeHash() != e.Hash {
		t.Fatalf("%v %+v", err, back)
	}
}

func TestParseEntryStrict(t *testing.T) {
	c := buildChain(1)
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, Slice(c)); err != nil {
		t.Fatal(err)
	}
	good := strings.TrimSuffix(buf.String(), "\n")
	if _, err := ParseEntry([]byte(good)); err != nil {
		t.Fatal(err)
	}
	h := c[0].Hash.String()
	bad := map[string]string{
		"unknown field":        strings.Replace(good, `"seq":1`, `"seq":1,"extra":1`, 1),
		"unknown actor field":  strings.Replace(good, `"kind":"user"`, `"kind":"user","role":"x"`, 1),
		"unknown subject":      strings.Replace(good, `"version":1`, `"version":1,"x":1`, 1),
		"duplicate field":      strings.Replace(good, `"seq":1`, `"seq":1,"seq":2`, 1),
		"case folded name":     strings.Replace(good, `"chain"`, `"Chain"`, 1),
		"missing chain":        strings.Replace(good, `"chain":"org-a",`, ``, 1),
		"missing seq":          strings.Replace(good, `"seq":1,`, ``, 1),
		"missing time":         strings.Replace(good, `"time":"`+c[0].Time.Format(time.RFC3339Nano)+`",`, ``, 1),
		"missing actor id":     strings.Replace(good, `,"id":"u-0"`, ``, 1),
		"missing subject":      strings.Replace(good, `"subject":{"org":"org-a","identity":"id-1","version":1},`, ``, 1),
		"missing hash":         strings.Replace(good, `,"hash":"`+h+`"`, ``, 1),
		"null prev":            strings.Replace(good, `"prev_hash":"`+Hash{}.String()+`"`, `"prev_hash":null`, 1),
		"upper hash":           strings.Replace(good, h, strings.ToUpper(h), 1),
		"short hash":           strings.Replace(good, h, h[:62], 1),
		"hash as array":        strings.Replace(good, `"`+h+`"`, `[1,2]`, 1),
		"seq negative":         strings.Replace(good, `"seq":1`, `"seq":-1`, 1),
		"seq float":            strings.Replace(good, `"seq":1`, `"seq":1.5`, 1),
		"seq string":           strings.Replace(good, `"seq":1`, `"seq":"1"`, 1),
		"seq zero":             strings.Replace(good, `"seq":1`, `"seq":0`, 1),
		"time not rfc3339":     strings.Replace(good, `"time":"2026-11-26T09:00:00.001234Z"`, `"time":"26 Nov 2026"`, 1),
		"time before year 1":   strings.Replace(good, `"time":"2026-11-26T09:00:00.001234Z"`, `"time":"0000-01-01T00:00:00+01:00"`, 1),
		"time after 9999":      strings.Replace(good, `"time":"2026-11-26T09:00:00.001234Z"`, `"time":"9999-12-31T23:00:00-01:00"`, 1),
		"time nanoseconds":     strings.Replace(good, `"time":"2026-11-26T09:00:00.001234Z"`, `"time":"2026-11-26T09:00:00.001234567Z"`, 1),
		"unknown action":       strings.Replace(good, `"action":"seal"`, `"action":"seal.everything"`, 1),
		"invalid utf8":         strings.Replace(good, `"u-0"`, "\"u-\xff\"", 1),
		"negative version":     strings.Replace(good, `"version":1`, `"version":-1`, 1),
		"chain with space":     strings.Replace(good, `"chain":"org-a"`, `"chain":" org-a"`, 1),
		"id without a kind":    strings.Replace(good, `"kind":"user"`, `"kind":""`, 1),
		"unknown actor kind":   strings.Replace(good, `"kind":"user"`, `"kind":"operator"`, 1),
		"user without id":      strings.Replace(good, `"id":"u-0"`, `"id":""`, 1),
		"trailing data":        good + `{}`,
		"two objects":          good + good,
		"not an object":        `[]`,
		"empty":                ``,
		"detail too long":      strings.Replace(good, `"request_id":"0"`, `"request_id":"`+strings.Repeat("x", MaxDetailValueLen+1)+`"`, 1),
		"name too long":        strings.Replace(good, `"u-0"`, `"`+strings.Repeat("x", MaxNameLen+1)+`"`, 1),
		"details not strings":  strings.Replace(good, `"request_id":"0"`, `"request_id":0`, 1),
		"oversized whitespace": good + strings.Repeat(" ", MaxLineLen),
	}
	for name, in := range bad {
		if _, err := ParseEntry([]byte(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
	many := map[string]string{}
	for i := range MaxDetails + 1 {
		many[string(rune('a'+i%26))+strings.Repeat("k", i)] = "v"
	}
	e := c[0]
	e.Details = many
	if err := WriteJSONL(io.Discard, Slice([]Entry{e})); !errors.Is(err, ErrInvalidEntry) {
		t.Errorf("wrote too many details: %v", err)
	}
	e.Details = map[string]string{"k": "\xff"}
	if err := WriteJSONL(io.Discard, Slice([]Entry{e})); !errors.Is(err, ErrInvalidEntry) {
		t.Errorf("wrote invalid UTF-8: %v", err)
	}
}

func TestDecodeJSONLStream(t *testing.T) {
	c := buildChain(3)
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, Slice(c)); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	count := func(in io.Reader) (int, error) {
		n := 0
		for _, err := range DecodeJSONL(in) {
			if err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	}
	if n, err := count(iotest.OneByteReader(strings.NewReader(buf.String()))); n != 3 || err != nil {
		t.Fatalf("one byte reader: %d %v", n, err)
	}
	if n, err := count(strings.NewReader("")); n != 0 || err != nil {
		t.Fatalf("empty: %d %v", n, err)
	}
	for name, in := range map[string]string{
		"blank line":    lines[0] + "\n" + lines[1],
		"no final eol":  lines[0] + strings.TrimSuffix(lines[1], "\n"),
		"long line":     lines[0] + strings.Repeat(" ", MaxLineLen+10) + "\n",
		"crlf then bad": lines[0] + "x\r\n",
	} {
		n, err := count(strings.NewReader(in))
		if !errors.Is(err, ErrFormat) || n != 1 {
			t.Errorf("%s: %d entries, %v", name, n, err)
		}
	}
	boom := errors.New("boom")
	if _, err := count(io.MultiReader(strings.NewReader(lines[0]), iotest.ErrReader(boom))); !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
}

func fuzzSeedsEntries() [][]byte {
	c := buildChain(3)
	c[1].Details = map[string]string{DetailError: "a\"b\\c\n\u00e9", DetailRevokedAt: "2026-11-26T09:00:00Z"}
	c[2].Details = nil
	var out [][]byte
	for _, e := range relink(c) {
		b, _ := marshalEntry(e)
		out = append(out, b)
	}
	return append(out, []byte(`{"chain":"x","seq":1}`), []byte(`{}`), []byte(`null`))
}

// FuzzParseEntry: anything ParseEntry accepts marshals and parses back to
// the same entry, with the same canonical encoding.
func FuzzParseEntry(f *testing.F) {
	for _, s := range fuzzSeedsEntries() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		out, err := marshalEntry(e)
		if err != nil {
			t.Fatalf("marshal of a parsed entry: %v", err)
		}
		back, err := ParseEntry(out)
		if err != nil {
			t.Fatalf("reparse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(e, back) || !bytes.Equal(e.Canonical(), back.Canonical()) {
			t.Fatalf("round trip differs:\n%+v\n%+v", e, back)
		}
	})
}

// FuzzParseCheckpoint: anything ParseCheckpoint accepts marshals back to the
// same bytes.
func FuzzParseCheckpoint(f *testing.F) {
	priv := rfc8032Key(f)
	for i, e := range buildChain(3) {
		cp, err := SignCheckpoint(priv, e, t0.Add(time.Duration(i)*time.Hour))
		if err != nil {
			f.Fatal(err)
		}
		b, err := MarshalCheckpoint(cp)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("sealkeep audit checkpoint v1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := ParseCheckpoint(b)
		if err != nil {
			if !errors.Is(err, ErrCheckpointFormat) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		out, err := MarshalCheckpoint(cp)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("round trip: %v\n%q\n%q", err, b, out)
		}
	})
}
