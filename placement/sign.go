package placement

import (
	"crypto/ed25519"
)

// Sign returns the detached ed25519 signature of a document's exact bytes,
// for a control plane to publish next to the document.
func Sign(key ed25519.PrivateKey, document []byte) []byte {
	return ed25519.Sign(key, document)
}

// verifyAny returns the first of sigs that verifies document with one of
// keys. When none does, the error says why the only signature failed, or
// that none of several did.
func verifyAny(document []byte, sigs [][]byte, keys []ed25519.PublicKey) ([]byte, error) {
	if len(sigs) == 0 {
		return nil, fieldErr(ErrSignature, "signature", "", "the document is not signed")
	}
	var first error
	for _, s := range sigs {
		err := verify(document, s, keys)
		if err == nil {
			return s, nil
		}
		if first == nil {
			first = err
		}
	}
	if len(sigs) == 1 {
		return nil, first
	}
	return nil, fieldErr(ErrSignature, "signature", "", "none of the %d signatures verifies with the %d trusted keys", len(sigs), len(keys))
}

// verify checks a detached signature against the trusted keys.
func verify(document, signature []byte, keys []ed25519.PublicKey) error {
	if len(signature) == 0 {
		return fieldErr(ErrSignature, "signature", "", "the document is not signed")
	}
	if len(signature) != ed25519.SignatureSize {
		return fieldErr(ErrSignature, "signature", "", "signature of %d bytes, want %d", len(signature), ed25519.SignatureSize)
	}
	for _, k := range keys {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, document, signature) {
			return nil
		}
	}
	return fieldErr(ErrSignature, "signature", "", "no trusted key signed this document (%d keys)", len(keys))
}
