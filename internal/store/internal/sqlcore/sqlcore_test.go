package sqlcore_test

import (
	"bytes"
	"testing"
	"testing/fstest"

	"sealkeep/internal/store/internal/sqlcore"
)

func TestLoadMigrations(t *testing.T) {
	good := fstest.MapFS{
		"m/0001_a.sql": {Data: []byte("A")},
		"m/0002_b.sql": {Data: []byte("B")},
	}
	ms, err := sqlcore.LoadMigrations(good, "m")
	if err != nil || len(ms) != 2 || ms[1].Version != 2 || ms[1].SQL != "B" || ms[0].Name != "0001_a.sql" {
		t.Fatalf("LoadMigrations = %+v, %v", ms, err)
	}
	gap := fstest.MapFS{"m/0001_a.sql": {}, "m/0004_d.sql": {Data: []byte("D")}}
	if ms, err := sqlcore.LoadMigrations(gap, "m"); err != nil || len(ms) != 2 || ms[1].Version != 4 {
		t.Errorf("LoadMigrations with a gap = %+v, %v", ms, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no first":  {"m/0002_b.sql": {}},
		"duplicate": {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
		"no number": {"m/init.sql": {}},
		"short":     {"m/1_a.sql": {}},
		"not sql":   {"m/0001_a.txt": {}},
		"empty":     {"m/.keep": {}},
	} {
		if _, err := sqlcore.LoadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestChainEncoding(t *testing.T) {
	for _, chain := range [][][]byte{nil, {}, {{}}, {{1}, {}, bytes.Repeat([]byte{7}, 300)}} {
		enc := sqlcore.EncodeChain(chain)
		got, err := sqlcore.DecodeChain(enc)
		if err != nil || (chain == nil) != (got == nil) || len(got) != len(chain) {
			t.Fatalf("%v: decoded %v, %v", chain, got, err)
		}
		for i := range chain {
			if !bytes.Equal(got[i], chain[i]) || got[i] == nil {
				t.Errorf("%v: element %d = %v", chain, i, got[i])
			}
		}
	}
	for _, bad := range [][]byte{{}, {2}, {1, 5, 1}, {1, 0x80}, {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if _, err := sqlcore.DecodeChain(bad); err == nil {
			t.Errorf("DecodeChain(%x) accepted", bad)
		}
	}
}

func FuzzChain(f *testing.F) {
	f.Add([]byte{1})
	f.Add([]byte{1, 2, 0x30, 0x00, 0})
	f.Add([]byte{1, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		chain, err := sqlcore.DecodeChain(b)
		if err != nil {
			return
		}
		if enc := sqlcore.EncodeChain(chain); !bytes.Equal(enc, b) && b != nil {
			// Uvarints have one minimal form; a non-minimal length must
			// still decode to the same chain.
			again, err := sqlcore.DecodeChain(enc)
			if err != nil || len(again) != len(chain) {
				t.Fatalf("re-encoding %x gave %x", b, enc)
			}
			for i := range chain {
				if !bytes.Equal(again[i], chain[i]) {
					t.Fatalf("re-encoding %x changed element %d", b, i)
				}
			}
		}
	})
}
