package placement

import (
	"crypto/ed25519"
	"fmt"
)

// Sign returns the detached ed25519 signature of a document's exact bytes,
// for a control plane to publish next to the document.
func Sign(key ed25519.PrivateKey, document []byte) []byte {
	return ed25519.Sign(key, document)
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
	return fieldErr(ErrSignature, "signature", "", "no trusted key signed this document (%s)", fmt.Sprintf("%d keys", len(keys)))
}
