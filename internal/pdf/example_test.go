package pdf_test

import (
	"fmt"
	"os"

	"sealkeep/internal/pdf"
)

// Open a file that was signed once and list its revisions and signatures,
// as a verifier starts.
func ExampleOpen() {
	f, err := os.Open("testdata/corpus/signpdf-signed.pdf")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	r, err := pdf.Open(f, fi.Size(), nil)
	if err != nil {
		panic(err)
	}
	for _, rv := range r.Revisions() {
		fmt.Printf("revision %d: %d section(s), bytes [0,%d)\n", rv.Index, len(rv.Sections), rv.End)
	}
	sigs, err := r.Latest().Signatures()
	if err != nil {
		panic(err)
	}
	for _, s := range sigs {
		fmt.Printf("%s: %s, /ByteRange %v, /Contents at [%d,%d)\n", s.Field.Name, s.Dict.Name("SubFilter"), s.ByteRange, s.ContentsStart, s.ContentsEnd)
	}
	// Output:
	// revision 0: 1 section(s), bytes [0,153980)
	// revision 1: 1 section(s), bytes [0,171651)
	// Signature1: adbe.pkcs7.detached, /ByteRange [0 154120 170506 1145], /Contents at [154120,170506)
}
