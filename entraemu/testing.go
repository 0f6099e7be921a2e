package entraemu

// TB is the part of testing.TB that NewTest uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// NewTest makes an emulator with cfg, starts it on a free loopback port and
// closes it when the test ends; it fails the test if it cannot. What a
// client needs is at hand: Authority, CertPool, HTTPClient.
func NewTest(t TB, cfg Config) *Emulator {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("entraemu: %v", err)
	}
	if err := e.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("entraemu: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}
