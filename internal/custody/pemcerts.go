package custody

import (
	"bytes"
	"encoding/pem"
)

// maxCertFile bounds a certificate or chain file.
const maxCertFile = 1 << 20

// DecodeCertificates returns the DER certificates in data: one DER
// certificate, or any number of PEM "CERTIFICATE" blocks (other PEM blocks
// are refused so that a private key is never taken for a chain). The bytes
// of each certificate are kept exactly as given.
func DecodeCertificates(data []byte) ([][]byte, error) {
	if len(data) > maxCertFile {
		return nil, invalidf("certificate file larger than %d bytes", maxCertFile)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, invalidf("certificate file is empty")
	}
	if trimmed[0] == 0x30 { // DER SEQUENCE
		return [][]byte{data}, nil
	}
	var out [][]byte
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, invalidf("certificate file holds a %q PEM block; only CERTIFICATE blocks belong here", b.Type)
		}
		out = append(out, b.Bytes)
	}
	if len(out) == 0 {
		return nil, invalidf("no certificate found (want PEM CERTIFICATE blocks or one DER certificate)")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, invalidf("certificate file has trailing data after the last PEM block")
	}
	return out, nil
}
