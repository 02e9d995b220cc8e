package source

import (
	"bytes"
	"encoding/base64"

	"github.com/cellkit/cellkit/placement"
)

// The signature file ("sidecar") next to a document holds one or more
// detached signatures of the document, each in standard base64 with padding
// on a line of its own; blank lines are ignored. A document is accepted when
// one of them verifies. Several lines let a writer replace the document and
// its sidecar, two files, without a moment where they disagree: it first
// adds the new signature to the sidecar, keeping the old one, then renames the
// new document into place, then drops the old signature. SaveFile does this.
const (
	maxSidecarBytes = 4 << 10
	maxSidecarSigs  = 8
)

// MaxSignatureFileBytes and MaxSignatures bound a signature file:
// ParseSignatures refuses a larger one with an error matching
// placement.ErrLimit.
const (
	MaxSignatureFileBytes = maxSidecarBytes
	MaxSignatures         = maxSidecarSigs
)

// ParseSignatures returns the signatures of a signature file, in the format
// above: the one the sources and LoadFile read. A line that is not base64
// gives an error matching placement.ErrSignature; a file over the limits, one
// matching placement.ErrLimit.
func ParseSignatures(data []byte) ([][]byte, error) { return parseSidecar(data) }

// FormatSignatures writes sigs as a signature file that ParseSignatures,
// the sources and LoadFile read back.
func FormatSignatures(sigs [][]byte) []byte { return formatSidecar(sigs) }

// parseSidecar returns the signatures of a signature file.
func parseSidecar(data []byte) ([][]byte, error) {
	if len(data) > maxSidecarBytes {
		return nil, fieldErr(placement.ErrLimit, "signature", "signature file of %d bytes, more than %d", len(data), maxSidecarBytes)
	}
	var sigs [][]byte
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		s := make([]byte, base64.StdEncoding.DecodedLen(len(line)))
		n, err := base64.StdEncoding.Decode(s, line)
		if err != nil {
			return nil, fieldErr(placement.ErrSignature, "signature", "line %d of the signature file is not base64", i+1)
		}
		if len(sigs) == maxSidecarSigs {
			return nil, fieldErr(placement.ErrLimit, "signature", "more than %d signatures", maxSidecarSigs)
		}
		sigs = append(sigs, s[:n])
	}
	return sigs, nil
}

func formatSidecar(sigs [][]byte) []byte {
	var b []byte
	for _, s := range sigs {
		b = base64.StdEncoding.AppendEncode(b, s)
		b = append(b, '\n')
	}
	return b
}

// addSignature returns the signatures of the sidecar to write before
// replacing the document: sig, then those of the old sidecar, which include
// the current document's even if earlier saves were interrupted.
func addSignature(old, sig []byte) [][]byte {
	sigs := [][]byte{sig}
	// An unreadable old sidecar verified nothing: dropping it loses nothing.
	prev, _ := parseSidecar(old)
	for _, p := range prev {
		if !bytes.Equal(p, sig) && len(sigs) < maxSidecarSigs {
			sigs = append(sigs, p)
		}
	}
	return sigs
}
