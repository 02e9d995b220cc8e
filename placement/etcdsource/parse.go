package etcdsource

import (
	"crypto/ed25519"
	"errors"

	"github.com/cellkit/cellkit/placement"
)

// parse parses a document with the first of sigs that one of opt.PublicKeys
// verifies (the first of sigs makes the error when none does).
//
// It adapts placement.ParseWith and its Options.Signature until
// placement.ParseSigned is in the core module; then it is that call.
func parse(doc []byte, sigs [][]byte, opt placement.Options) (*placement.Map, error) {
	if len(opt.PublicKeys) > 0 {
		opt.Signature = nil
		if len(sigs) > 0 {
			opt.Signature = sigs[0]
		}
	find:
		for _, s := range sigs {
			for _, k := range opt.PublicKeys {
				if len(k) == ed25519.PublicKeySize && len(s) == ed25519.SignatureSize && ed25519.Verify(k, doc, s) {
					opt.Signature = s
					break find
				}
			}
		}
	}
	return placement.ParseWith(doc, opt)
}

// checkOptions refuses options the etcd source cannot honour.
func checkOptions(opt placement.Options) error {
	if len(opt.Signature) > 0 {
		return errors.New("etcdsource: Options.Signature must be empty; signatures come from the sig key")
	}
	return nil
}
