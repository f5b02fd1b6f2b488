package keypolicy

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"time"
)

// Extended key usages that allow document signing when an EKU extension is
// present. anyExtendedKeyUsage and emailProtection come through Go's
// x509.ExtKeyUsage; the others as unknown OIDs.
var (
	oidDocumentSigning      = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}       // id-kp-documentSigning (RFC 9336)
	oidAdobeAuthenticDocs   = asn1.ObjectIdentifier{1, 2, 840, 113583, 1, 1, 5}       // Adobe Authentic Documents Trust
	oidMicrosoftDocSigning  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 10, 3, 12} // Microsoft Document Signing
	oidExtensionKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 15}
	documentSigningEKUNames = "anyExtendedKeyUsage, emailProtection, documentSigning (1.3.6.1.5.5.7.3.36), Adobe Authentic Documents (1.2.840.113583.1.1.5) or Microsoft Document Signing (1.3.6.1.4.1.311.10.3.12)"
)

const dateFormat = time.RFC3339

// CheckLeaf decides whether cert may seal documents at time now: it must be
// within its validity period, carry no critical extension crypto/x509
// leaves unprocessed, not be a CA, carry a key usage extension with
// digitalSignature or nonRepudiation (contentCommitment), and, if it has an
// extended key usage extension, list a usage that allows document signing.
// The certificate's public key is checked with [CheckPublicKey].
//
// A certificate without a key usage extension is refused: RFC 5280 requires
// it on certificates that verify signatures, and a seal must not rest on an
// unrestricted key.
func CheckLeaf(cert *x509.Certificate, now time.Time) error {
	if cert == nil {
		return fmt.Errorf("%w: no certificate", ErrChain)
	}
	if err := CheckValidity(cert, now); err != nil {
		return err
	}
	if err := checkCriticalExtensions(cert); err != nil {
		return err
	}
	if cert.BasicConstraintsValid && cert.IsCA {
		return fmt.Errorf("%w: it has basicConstraints CA:TRUE; seal with an end-entity certificate issued by the CA, not the CA certificate itself", ErrLeafIsCA)
	}
	if cert.KeyUsage&x509.KeyUsageCertSign != 0 {
		return fmt.Errorf("%w: it has the keyCertSign key usage, which only CA certificates carry; ask the CA for an end-entity certificate", ErrLeafIsCA)
	}
	if !hasExtension(cert, oidExtensionKeyUsage) {
		return fmt.Errorf("%w: it has no key usage extension; ask the CA for digitalSignature and nonRepudiation", ErrKeyUsage)
	}
	if cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return fmt.Errorf("%w: it has neither digitalSignature nor nonRepudiation (contentCommitment); ask the CA for a certificate with them", ErrKeyUsage)
	}
	if !ekuAllowsDocumentSigning(cert) {
		return fmt.Errorf("%w: its extended key usage allows none of %s; this looks like a certificate for another purpose (e.g. a TLS server)", ErrExtKeyUsage, documentSigningEKUNames)
	}
	if _, err := CheckPublicKey(cert.PublicKey); err != nil {
		return fmt.Errorf("certificate key: %w", err)
	}
	return nil
}

// checkCriticalExtensions refuses a certificate with a critical extension
// crypto/x509 leaves unprocessed, naming the extension.
func checkCriticalExtensions(cert *x509.Certificate) error {
	if len(cert.UnhandledCriticalExtensions) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %q marks extension %s critical, and neither sealkeep nor standard verifiers process it (RFC 5280 4.2); ask the CA for a certificate without it",
		ErrCriticalExtension, cert.Subject.String(), cert.UnhandledCriticalExtensions[0])
}

// hasExtension reports whether cert carries the extension oid.
func hasExtension(cert *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	for _, e := range cert.Extensions {
		if e.Id.Equal(oid) {
			return true
		}
	}
	return false
}

func ekuAllowsDocumentSigning(cert *x509.Certificate) bool {
	if len(cert.ExtKeyUsage) == 0 && len(cert.UnknownExtKeyUsage) == 0 {
		return true // no EKU extension: unrestricted
	}
	for _, u := range cert.ExtKeyUsage {
		if u == x509.ExtKeyUsageAny || u == x509.ExtKeyUsageEmailProtection {
			return true
		}
	}
	for _, o := range cert.UnknownExtKeyUsage {
		if o.Equal(oidDocumentSigning) || o.Equal(oidAdobeAuthenticDocs) || o.Equal(oidMicrosoftDocSigning) {
			return true
		}
	}
	return false
}

// CheckChain checks that chain links leaf up to its top: chain[0] issued
// leaf, chain[i+1] issued chain[i]. Each issuer's name must equal the
// subject's issuer name, its signature must verify
// (x509.Certificate.CheckSignatureFrom, which also refuses MD5 and SHA-1),
// it must be a CA whose key usage, if present, includes keyCertSign, and
// its path length constraint must allow the CA
// certificates below it. A self-signed root may end the chain; nothing may
// follow it. An empty chain is accepted: for a self-signed leaf there is
// nothing to link, and for a CA-issued leaf the verifier completes the path
// from its configured trust anchors.
//
// Validity periods of the chain certificates are the verifier's concern
// (old seals must keep verifying after a CA certificate expires).
func CheckChain(leaf *x509.Certificate, chain []*x509.Certificate) error {
	if leaf == nil {
		return fmt.Errorf("%w: no leaf certificate", ErrChain)
	}
	child := leaf
	for i, ca := range chain {
		if ca == nil {
			return fmt.Errorf("%w: certificate %d of the chain is missing", ErrChain, i+1)
		}
		if isSelfSigned(child) {
			return fmt.Errorf("%w: %q is self-signed, yet the chain continues with %q; remove the extra certificates",
				ErrChain, child.Subject.String(), ca.Subject.String())
		}
		if !bytes.Equal(child.RawIssuer, ca.RawSubject) {
			return fmt.Errorf("%w: %q was issued by %q, but the next certificate in the chain is %q; supply the issuer's certificate",
				ErrChain, child.Subject.String(), child.Issuer.String(), ca.Subject.String())
		}
		if !ca.BasicConstraintsValid || !ca.IsCA {
			return fmt.Errorf("%w: intermediate %q is not a CA certificate (no basicConstraints CA:TRUE)", ErrChain, ca.Subject.String())
		}
		if err := checkCriticalExtensions(ca); err != nil {
			return fmt.Errorf("%w: %w", ErrChain, err)
		}
		if hasExtension(ca, oidExtensionKeyUsage) && ca.KeyUsage&x509.KeyUsageCertSign == 0 {
			return fmt.Errorf("%w: %q has a key usage extension without keyCertSign, so it may not sign certificates (RFC 5280 4.2.1.3); supply the issuer's CA certificate",
				ErrChain, ca.Subject.String())
		}
		if err := child.CheckSignatureFrom(ca); err != nil {
			return fmt.Errorf("%w: the signature on %q does not verify with the key of %q: %v",
				ErrChain, child.Subject.String(), ca.Subject.String(), err)
		}
		// i CA certificates sit between ca and the leaf.
		if pathLenSet(ca) && i > ca.MaxPathLen {
			return fmt.Errorf("%w: %q allows %d intermediate CA certificate(s) below it (pathLenConstraint), the chain has %d",
				ErrChain, ca.Subject.String(), ca.MaxPathLen, i)
		}
		child = ca
	}
	if len(chain) == 0 && bytes.Equal(leaf.RawIssuer, leaf.RawSubject) {
		if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
			return fmt.Errorf("%w: the self-signed certificate's own signature does not verify: %v", ErrChain, err)
		}
	}
	return nil
}

func pathLenSet(c *x509.Certificate) bool {
	return c.MaxPathLen > 0 || c.MaxPathLen == 0 && c.MaxPathLenZero
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// CheckValidity refuses a certificate outside its validity period at now,
// with [ErrNotYetValid] or [ErrExpired] and the dates. [CheckLeaf] runs it;
// callers that re-check a stored certificate later (activation) call it
// alone.
func CheckValidity(cert *x509.Certificate, now time.Time) error {
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("%w: valid from %s to %s, and it is now %s; wait until it starts or ask the CA for a certificate valid now",
			ErrNotYetValid, cert.NotBefore.UTC().Format(dateFormat), cert.NotAfter.UTC().Format(dateFormat), now.UTC().Format(dateFormat))
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("%w: it expired on %s (valid from %s); ask the CA for a new certificate",
			ErrExpired, cert.NotAfter.UTC().Format(dateFormat), cert.NotBefore.UTC().Format(dateFormat))
	}
	return nil
}
