#!/bin/sh
# make.sh: makes the demo signing identity used by the README walk-through.
#
#   demo-signer.p12      PKCS #12 (AES-256-CBC, PBKDF2, HMAC-SHA-256 MAC):
#                        the leaf key, the leaf certificate and the root CA
#   demo-passphrase.txt  its passphrase (a demo, not a secret)
#   demo-root-ca.pem     the demo root CA certificate (trust anchor for verify)
#   demo-signer.pem      the leaf certificate alone
#
# Chain: "sealkeep Demo Root CA" (RSA-4096, 20 years) →
# "Jane Doe, P.E. 12345, Texas" (RSA-3072, 10 years, keyUsage
# digitalSignature + nonRepudiation, extendedKeyUsage emailProtection).
# Run from anywhere; it rewrites the files next to it. Needs OpenSSL 3.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf '%s\n' 'sealkeep demo passphrase' >demo-passphrase.txt

# Root CA: self-signed, CA:TRUE, keyCertSign + cRLSign.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out "$tmp/root.key"
openssl req -x509 -new -key "$tmp/root.key" -sha256 -days 7300 \
	-subj "/C=US/O=sealkeep demo/CN=sealkeep Demo Root CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" \
	-addext "subjectKeyIdentifier=hash" \
	-out demo-root-ca.pem

# Leaf: RSA-3072, end entity, document signing usages, 10 years.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$tmp/leaf.key"
openssl req -new -key "$tmp/leaf.key" \
	-subj "/C=US/ST=Texas/O=sealkeep demo/CN=Jane Doe, P.E. 12345, Texas" \
	-out "$tmp/leaf.csr"
cat >"$tmp/leaf.ext" <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,nonRepudiation
extendedKeyUsage=emailProtection
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
openssl x509 -req -in "$tmp/leaf.csr" -CA demo-root-ca.pem -CAkey "$tmp/root.key" \
	-set_serial "0x$(openssl rand -hex 16)" -sha256 -days 3650 \
	-extfile "$tmp/leaf.ext" -out demo-signer.pem

# PKCS #12: modern protection only (OpenSSL 3 defaults made explicit).
openssl pkcs12 -export -name "Jane Doe, P.E. 12345, Texas" \
	-inkey "$tmp/leaf.key" -in demo-signer.pem -certfile demo-root-ca.pem \
	-keypbe AES-256-CBC -certpbe AES-256-CBC -macalg sha256 -iter 10000 \
	-passout file:demo-passphrase.txt -out demo-signer.p12

openssl pkcs12 -in demo-signer.p12 -passin file:demo-passphrase.txt -info -noout
sha256sum demo-signer.p12 demo-root-ca.pem demo-signer.pem demo-passphrase.txt
