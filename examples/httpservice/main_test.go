package main

import (
	"bytes"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run: %v", err)
	}
	// The placement is deterministic: the same map gives the same cells in
	// every process.
	const want = `acme     → 200 OK c1 serves /tenants/acme/orders
globex   → 200 OK c1 serves /tenants/globex/orders
initech  → 200 OK c2 serves /tenants/initech/orders
umbrella → 200 OK c1 serves /tenants/umbrella/orders
acme at c2 → 421 Misdirected Request, owner c1
`
	if got := out.String(); got != want {
		t.Errorf("run wrote\n%s\nwant\n%s", got, want)
	}
}
