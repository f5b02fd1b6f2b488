package envelope

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// wycheproofAEAD is the part of Wycheproof's aead_test_schema_v1 we use.
type wycheproofAEAD struct {
	TestGroups []struct {
		KeySize, IvSize, TagSize int
		Tests                    []struct {
			TcID                       int `json:"tcId"`
			Comment                    string
			Key, Iv, Aad, Msg, Ct, Tag string
			Result                     string
		}
	}
}

// TestWycheproofAESGCM runs every AES-256-GCM vector with a 96-bit IV and a
// 128-bit tag against newAEAD: valid ones must encrypt to the expected
// ciphertext and decrypt back; invalid ones must not decrypt.
func TestWycheproofAESGCM(t *testing.T) {
	data, err := os.ReadFile("testdata/aes_gcm_test.json")
	if err != nil {
		t.Fatal(err)
	}
	var f wycheproofAEAD
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var valid, invalid int
	for _, g := range f.TestGroups {
		if g.KeySize != 256 || g.IvSize != 96 || g.TagSize != 128 {
			continue
		}
		for _, tc := range g.Tests {
			aead, err := newAEAD(unhex(tc.Key))
			if err != nil {
				t.Fatalf("tcId %d: %v", tc.TcID, err)
			}
			iv, aad, msg := unhex(tc.Iv), unhex(tc.Aad), unhex(tc.Msg)
			sealed := append(unhex(tc.Ct), unhex(tc.Tag)...)
			got, err := aead.Open(nil, iv, sealed, aad)
			switch tc.Result {
			case "valid":
				valid++
				if err != nil || !bytes.Equal(got, msg) {
					t.Errorf("tcId %d (%s): valid vector did not decrypt: %v", tc.TcID, tc.Comment, err)
				}
				if enc := aead.Seal(nil, iv, msg, aad); !bytes.Equal(enc, sealed) {
					t.Errorf("tcId %d (%s): encryption differs from the vector", tc.TcID, tc.Comment)
				}
			case "invalid":
				invalid++
				if err == nil {
					t.Errorf("tcId %d (%s): invalid vector decrypted", tc.TcID, tc.Comment)
				}
			default:
				t.Fatalf("tcId %d: unexpected result %q", tc.TcID, tc.Result)
			}
		}
	}
	if valid != 39 || invalid != 27 {
		t.Errorf("ran %d valid and %d invalid vectors, want 39 and 27", valid, invalid)
	}
}
