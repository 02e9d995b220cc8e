package etcdsource

import (
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Every configuration a constructor refuses gives an error matching
// ErrConfig that names the field.
func TestConfigErrors(t *testing.T) {
	cl := new(clientv3.Client) // never used: the constructors make no request
	for _, c := range []struct {
		field string
		err   error
	}{
		{"client", func() error { _, err := New(nil, "p/", Config{}); return err }()},
		{"Config.Jitter", func() error { _, err := New(cl, "p/", Config{Jitter: 1}); return err }()},
		{"Config", func() error { _, err := New(cl, "p/", Config{Timeout: -time.Second}); return err }()},
		{"client", func() error { _, err := NewPublisher(nil, "p/", PublisherConfig{}); return err }()},
		{"PublisherConfig.MaxTxnOps", func() error { _, err := NewPublisher(cl, "p/", PublisherConfig{MaxTxnOps: 3}); return err }()},
		{"client", func() error { _, err := NewConfirmWriter(nil, "p/", ConfirmWriterConfig{Cell: "c1"}); return err }()},
		{"ConfirmWriterConfig.Cell", func() error { _, err := NewConfirmWriter(cl, "p/", ConfirmWriterConfig{}); return err }()},
		{"ConfirmWriterConfig", func() error {
			_, err := NewConfirmWriter(cl, "p/", ConfirmWriterConfig{Cell: "c1", TTL: -time.Second})
			return err
		}()},
	} {
		if !errors.Is(c.err, ErrConfig) || !strings.Contains(c.err.Error(), c.field) {
			t.Errorf("error %v; want one matching ErrConfig that names %s", c.err, c.field)
		}
	}
}
