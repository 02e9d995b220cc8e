package placement

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

func TestParseSigned(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	other, otherPriv, _ := ed25519.GenerateKey(nil)
	doc := []byte(`{"version": 1, "cells": [{"id": "c1"}]}`)
	sig := Sign(priv, doc)
	tampered := []byte(`{"version": 2, "cells": [{"id": "c1"}]}`)
	keys := []ed25519.PublicKey{pub}
	for _, tc := range []struct {
		name    string
		doc     []byte
		sigs    [][]byte
		keys    []ed25519.PublicKey
		wantSig []byte // nil: refused with ErrSignature, unless keys is nil
	}{
		{"no verifier", doc, nil, nil, nil},
		{"no verifier, signatures ignored", doc, [][]byte{sig}, nil, nil},
		{"signed", doc, [][]byte{sig}, keys, sig},
		{"second key", doc, [][]byte{sig}, []ed25519.PublicKey{other, pub}, sig},
		{"second signature", doc, [][]byte{Sign(otherPriv, doc), sig}, keys, sig},
		{"first that verifies", doc, [][]byte{{1, 2}, sig, sig}, keys, sig},
		{"unsigned", doc, nil, keys, nil},
		{"empty signature", doc, [][]byte{nil}, keys, nil},
		{"tampered", tampered, [][]byte{sig}, keys, nil},
		{"wrong key", doc, [][]byte{sig}, []ed25519.PublicKey{other}, nil},
		{"short signature", doc, [][]byte{sig[:10]}, keys, nil},
		{"none of several", doc, [][]byte{sig[:10], Sign(otherPriv, doc)}, keys, nil},
	} {
		m, err := ParseSigned(tc.doc, tc.sigs, Options{PublicKeys: tc.keys})
		switch {
		case tc.keys == nil || tc.wantSig != nil:
			if err != nil {
				t.Errorf("%s: ParseSigned() = %v; want the map", tc.name, err)
			} else if !bytes.Equal(m.Signature(), tc.wantSig) {
				t.Errorf("%s: Signature() = %x; want %x", tc.name, m.Signature(), tc.wantSig)
			}
		case !errors.Is(err, ErrSignature):
			t.Errorf("%s: ParseSigned() = %v, %v; want ErrSignature", tc.name, m, err)
		}
	}
	// ParseWith carries no signature: with keys it refuses every document.
	if _, err := ParseWith(doc, Options{PublicKeys: keys}); !errors.Is(err, ErrSignature) {
		t.Errorf("ParseWith(keys) = %v; want ErrSignature", err)
	}
}

func TestLimitsWithDefaults(t *testing.T) {
	got := Limits{MaxBytes: 10, MaxCells: -1}.WithDefaults()
	if want := (Limits{}).withDefaults(); got.MaxBytes != 10 || got.MaxCells != want.MaxCells || got.MaxTableWork != want.MaxTableWork {
		t.Errorf("WithDefaults() = %+v; want MaxBytes 10 and the other defaults %+v", got, want)
	}
}
