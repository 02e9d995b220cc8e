package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"io/fs"
	"os"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

var keygenCmd = &command{
	name:    "keygen",
	args:    "-o NAME",
	summary: "make an ed25519 key pair for signing maps",
	help: `Keygen writes a new ed25519 key pair: NAME.key, the private key (PEM,
PKCS #8, mode 0600), and NAME.pub, the public key (PEM, PKIX, mode 0644),
and prints the key's ID (the first 8 bytes of the SHA-256 of the public key,
in hex). It never overwrites a file. Keys made by
'openssl genpkey -algorithm ed25519' work too, as do files holding the raw
key in base64.`,
	examples: `cellctl keygen -o control-plane
cellctl sign --key control-plane.key map.json
cellctl validate --public-key control-plane.pub map.json`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		out := fs.String("o", "", "write `NAME`.key and NAME.pub (required)")
		return func(e *env, args []string) error {
			if *out == "" || len(args) != 0 {
				return usagef("keygen takes -o NAME and no arguments")
			}
			return keygen(e, *out)
		}
	},
}

func keygen(e *env, name string) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	for _, p := range []string{name + ".key", name + ".pub"} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("keygen: %s exists: %w", p, fs.ErrExist)
		}
	}
	if err := createNew(name+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return err
	}
	if err := createNew(name+".pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s.key and %s.pub: key %s\n", name, name, keyID(pub))
	return nil
}

// createNew writes a file that must not exist yet.
func createNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readKeyFile returns the key material of a key file: a PEM block's DER, or
// the raw bytes of a base64 file.
func readKeyFile(path string) (der []byte, isPEM bool, err error) {
	data, err := readLimited(path, 16<<10)
	if err != nil {
		return nil, false, err
	}
	if b, _ := pem.Decode(data); b != nil {
		return b.Bytes, true, nil
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil {
		return nil, false, fmt.Errorf("%w %s: neither PEM nor base64", errKey, path)
	}
	return raw, false, nil
}

func readPublicKey(path string) (ed25519.PublicKey, error) {
	der, isPEM, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	if !isPEM {
		if len(der) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w %s: %d bytes, want an ed25519 public key of %d", errKey, path, len(der), ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(der), nil
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", errKey, path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w %s: a %T, not an ed25519 public key", errKey, path, k)
	}
	return pub, nil
}

func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, isPEM, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	if !isPEM {
		switch len(der) {
		case ed25519.SeedSize:
			return ed25519.NewKeyFromSeed(der), nil
		case ed25519.PrivateKeySize:
			k := ed25519.PrivateKey(der)
			if !bytes.Equal(ed25519.NewKeyFromSeed(k.Seed()), k) {
				return nil, fmt.Errorf("%w %s: the public half does not match the seed", errKey, path)
			}
			return k, nil
		}
		return nil, fmt.Errorf("%w %s: %d bytes, want an ed25519 seed (32) or private key (64)", errKey, path, len(der))
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", errKey, path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w %s: a %T, not an ed25519 private key", errKey, path, k)
	}
	return priv, nil
}

var signCmd = &command{
	name:    "sign",
	args:    "--key KEY FILE",
	summary: "write the detached signature of a map",
	help: `Sign checks the map FILE strictly, signs its exact bytes with the ed25519
private key KEY and writes the signature to FILE.sig, the signature file that
the file source, validate, publish and serve read: one base64 signature a
line. The signature covers the bytes: edit the map again and it must be
signed again.`,
	examples: `cellctl sign --key control-plane.key map.json
cellctl validate --public-key control-plane.pub map.json`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var d docFlags
		d.register(fs, false)
		key := fs.String("key", "", "the private key `FILE` (required)")
		return func(e *env, args []string) error {
			if *key == "" || len(args) != 1 {
				return usagef("sign takes --key KEY and one map FILE")
			}
			return sign(e, &d, *key, args[0])
		}
	},
}

func sign(e *env, d *docFlags, keyPath, path string) error {
	priv, err := readPrivateKey(keyPath)
	if err != nil {
		return err
	}
	opt, err := d.options()
	if err != nil {
		return err
	}
	m, doc, _, err := loadDoc(path, opt)
	if err != nil {
		return err
	}
	sig := placement.Sign(priv, doc)
	pub := priv.Public().(ed25519.PublicKey)
	if _, err := placement.ParseSigned(doc, [][]byte{sig}, placement.Options{Limits: d.lim, PublicKeys: []ed25519.PublicKey{pub}}); err != nil {
		return err // cannot happen: a fresh signature verifies
	}
	if err := writeFile(path+sigSuffix, source.FormatSignatures([][]byte{sig})); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "signed %s (v%d) with key %s: %s%s\n", path, m.Version(), keyID(pub), path, sigSuffix)
	return nil
}
