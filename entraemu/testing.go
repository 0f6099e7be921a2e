package entraemu

import (
	"crypto/x509"
	"net/http"
)

// TB is the part of testing.TB that NewTest uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Test is an emulator started for one test, with what a client of it
// needs at hand.
type Test struct {
	*Emulator
	// Authority is the authority to give MSAL (URL()+"/"+TenantID).
	Authority string
	// CAs holds only the emulator's CA.
	CAs *x509.CertPool
	// Client trusts only the emulator's CA.
	Client *http.Client
}

// NewTest makes an emulator with cfg, starts it on a free loopback port and
// closes it when the test ends; it fails the test if it cannot.
func NewTest(t TB, cfg Config) *Test {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("entraemu: %v", err)
	}
	if err := e.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("entraemu: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return &Test{Emulator: e, Authority: e.Authority(), CAs: e.CertPool(), Client: e.HTTPClient()}
}
