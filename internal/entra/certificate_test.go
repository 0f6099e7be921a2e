package entra

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/entraemu"
	"github.com/tokend/tokend/internal/clock"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/store"
)

// The PKCS#12 and PEM files of internal/pkcs12/testdata: one RSA key and
// its certificates, in the shapes OpenSSL writes.
func pkcs12File(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "pkcs12", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestReadCertificate(t *testing.T) {
	now := time.Now()
	cert, key, leaf, ca := pkcs12File(t, "cert.pem"), pkcs12File(t, "key.pem"), pkcs12File(t, "leaf.pem"), pkcs12File(t, "ca.pem")
	rsaKey, _ := pem.Decode(key)
	k, err := x509.ParsePKCS8PrivateKey(rsaKey.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))})
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})
	legacy := []byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n-----END RSA PRIVATE KEY-----\n")
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name     string
		data     []byte
		password string
		now      time.Time
		subject  string // success: the leaf's CN
		chain    int    // success: certificates stored
		err      string // failure: in the message
	}{
		{name: "PEM certificate then key", data: join(cert, key), subject: "tokend test certificate", chain: 1},
		{name: "PEM key then certificate", data: join(key, cert), subject: "tokend test certificate", chain: 1},
		{name: "PEM PKCS#1 key", data: join(cert, pkcs1), subject: "tokend test certificate", chain: 1},
		{name: "PEM chain, issuer first", data: join(ca, leaf, key), subject: "tokend test leaf", chain: 2},
		{name: "PEM encrypted key", data: join(cert, pkcs12File(t, "key-encrypted.pem")), password: "pem-password", subject: "tokend test certificate", chain: 1},
		{name: "PEM encrypted key, wrong password", data: join(cert, pkcs12File(t, "key-encrypted.pem")), password: "nope", err: "wrong password for the encrypted private key"},
		{name: "PEM encrypted key, no password", data: join(cert, pkcs12File(t, "key-encrypted.pem")), err: "the private key is encrypted: pipe its password to stdin"},
		{name: "PEM legacy encryption", data: join(cert, legacy), err: "legacy OpenSSL way (DEK-Info)"},
		{name: "PEM without key", data: cert, err: "no private key in the PEM file"},
		{name: "PEM without certificate", data: key, err: "no CERTIFICATE"},
		{name: "PEM key of another certificate", data: join(ca, key), err: "belongs to none of the certificates"},
		{name: "PEM ECDSA key", data: join(cert, ecPEM), err: "the private key is ECDSA"},
		{name: "PFX modern", data: pkcs12File(t, "modern.pfx"), password: "pfx-password", subject: "tokend test certificate", chain: 1},
		{name: "PFX legacy", data: pkcs12File(t, "legacy.pfx"), password: "pfx-password", subject: "tokend test certificate", chain: 1},
		{name: "PFX without password", data: pkcs12File(t, "empty-password.pfx"), subject: "tokend test certificate", chain: 1},
		{name: "PFX chain", data: pkcs12File(t, "chain.pfx"), password: "pfx-password", subject: "tokend test leaf", chain: 2},
		{name: "PFX wrong password", data: pkcs12File(t, "modern.pfx"), password: "guess", err: "wrong password for the PFX file"},
		{name: "PFX password missing", data: pkcs12File(t, "modern.pfx"), err: "protected by a password: pipe it to stdin"},
		{name: "expired", data: join(cert, key), now: now.AddDate(101, 0, 0), err: "tokend test certificate (thumbprint "},
		{name: "not yet valid", data: join(cert, key), now: now.AddDate(-1, 0, 0), err: "is not valid before"},
		{name: "garbage", data: []byte("hello"), err: "neither PEM nor a PFX file"},
		{name: "too large", data: make([]byte, maxCertificateFile+1), err: "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := now
			if !tc.now.IsZero() {
				at = tc.now
			}
			blob, c, err := readCertificate(tc.data, tc.password, at)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "certificate: ") {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if tc.password != "" && strings.Contains(err.Error(), tc.password) {
					t.Error("the message quotes the password")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject.CommonName != tc.subject {
				t.Errorf("leaf %q, want %q", c.Subject.CommonName, tc.subject)
			}
			// What is stored: the leaf first, the chain, one PKCS#8 key.
			var types []string
			var first *x509.Certificate
			for rest := blob; ; {
				var b *pem.Block
				if b, rest = pem.Decode(rest); b == nil {
					break
				}
				types = append(types, b.Type)
				if first == nil && b.Type == "CERTIFICATE" {
					first, _ = x509.ParseCertificate(b.Bytes)
				}
			}
			want := append(slicesRepeat("CERTIFICATE", tc.chain), "PRIVATE KEY")
			if strings.Join(types, ",") != strings.Join(want, ",") || first == nil || !first.Equal(c) {
				t.Errorf("stored blocks %v, want %v with the leaf first", types, want)
			}
			if bytes.Contains(blob, []byte("ENCRYPTED")) {
				t.Error("stored an encrypted key")
			}
		})
	}
}

func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func certProfile(em *entraemu.Emulator, sendX5C bool) *config.Profile {
	return &config.Profile{Name: "p", Flow: "client-certificate", ClientID: entraemu.ConfidentialClientID, Authority: em.Authority(),
		Scopes: []string{config.DatabricksScope}, Cloud: "public", SendX5C: sendX5C}
}

// TestCertificateFlow signs in with certificates through the real MSAL
// against the emulator, which verifies the assertion.
func TestCertificateFlow(t *testing.T) {
	em := startEmulator(t)
	if err := em.RegisterClientCertificate(entraemu.ConfidentialClientID, pkcs12File(t, "cert.pem")); err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	src := newTestSource(t, em, certProfile(em, false), st)
	stored := func() []byte {
		b, err := st.Get(context.Background(), "profile/p/client-certificate")
		if err != nil {
			t.Fatalf("stored certificate: %v", err)
		}
		return b
	}

	if _, err := src.Token(testCtx(t, 10*time.Second), []string{config.DatabricksScope}); !errors.Is(err, idp.ErrLoginRequired) || !strings.Contains(err.Error(), "token login p --certificate FILE") {
		t.Fatalf("before login: %v", err)
	}
	tok, err := src.Login(testCtx(t, 30*time.Second), idp.LoginRequest{Certificate: pkcs12File(t, "modern.pfx"), CertificatePassword: "pfx-password"})
	if err != nil || tok.Account != entraemu.ConfidentialClientID || tok.TenantID != entraemu.TenantID {
		t.Fatalf("Login = %+v, %v", tok, err)
	}
	if c := jwtClaims(t, tok.AccessToken); c["appidacr"] != "2" || c["aud"] != entraemu.DatabricksResource {
		t.Errorf("claims %v: not a certificate-authenticated app token", c)
	}
	first := stored()
	if bytes.Contains(first, []byte("pfx-password")) || !bytes.HasPrefix(first, []byte("-----BEGIN CERTIFICATE-----")) {
		t.Fatalf("stored %q…", first[:40])
	}
	em.ResetCounts()
	for _, scope := range []string{"https://management.core.windows.net//.default", config.DatabricksScope} {
		if _, err := src.Token(testCtx(t, 30*time.Second), []string{scope}); err != nil {
			t.Fatalf("Token(%s): %v", scope, err)
		}
	}
	if n := em.Counts()["client_credentials"]; n != 2 {
		t.Errorf("%d client_credentials grants for 2 tokens: an access token came from a cache", n)
	}

	// Refused sign-ins leave the stored certificate alone.
	other, otherKey, err := em.IssueClientCertificate("unregistered", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  idp.LoginRequest
		want string
	}{
		{"nothing", idp.LoginRequest{}, "a certificate is required"},
		{"wrong password", idp.LoginRequest{Certificate: pkcs12File(t, "modern.pfx"), CertificatePassword: "x"}, "wrong password for the PFX file"},
		{"not registered", idp.LoginRequest{Certificate: append(other, otherKey...)}, "AADSTS700027"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := src.Login(testCtx(t, 30*time.Second), tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Login = %v, want %q", err, tc.want)
			}
			if !bytes.Equal(stored(), first) {
				t.Error("a refused sign-in replaced the stored certificate")
			}
		})
	}

	// A daemon restart reads it back from the store.
	again := newTestSource(t, em, certProfile(em, false), st)
	if _, err := again.Token(testCtx(t, 30*time.Second), []string{config.DatabricksScope}); err != nil {
		t.Fatalf("after restart: %v", err)
	}

	// The stored certificate expires: the next refresh says so and asks
	// for a sign-in, without asking the identity provider.
	// The daemon's clock, not the wall clock, says when.
	soon, soonKey, err := em.IssueClientCertificate("short-lived", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := em.RegisterClientCertificate(entraemu.ConfidentialClientID, soon); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Now())
	src, err = New(certProfile(em, false), Options{Secrets: st, HTTPClient: em.HTTPClient(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Login(testCtx(t, 30*time.Second), idp.LoginRequest{Certificate: append(soon, soonKey...)}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Token(testCtx(t, 30*time.Second), []string{config.DatabricksScope}); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	clk.Set(parseCert(t, soon).NotAfter.Add(time.Second))
	em.ResetCounts()
	_, err = src.Token(testCtx(t, 30*time.Second), []string{"api://expired/.default"})
	if !errors.Is(err, idp.ErrLoginRequired) || !strings.Contains(err.Error(), "short-lived") || !strings.Contains(err.Error(), "expired on") {
		t.Fatalf("expired certificate: %v", err)
	}
	if n := em.Counts()["client_credentials"]; n != 0 {
		t.Errorf("an expired certificate was sent to the identity provider (%d requests)", n)
	}

	if err := src.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(context.Background(), "profile/p/client-certificate"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("logout left the certificate: %v", err)
	}
}

// TestCertificateSubjectName: with send_x5c, a certificate the app trusts
// by subject and issuer works without being registered; without it, not.
func TestCertificateSubjectName(t *testing.T) {
	em := startEmulator(t)
	if err := em.TrustCertificateSubject(entraemu.ConfidentialClientID, "sni.tokend.test"); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := em.IssueClientCertificate("sni.tokend.test", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// The issuer's certificate travels too, after the leaf.
	file := append(append(append([]byte{}, keyPEM...), certPEM...), em.CAPEM()...)
	for _, x5c := range []bool{false, true} {
		src := newTestSource(t, em, certProfile(em, x5c), store.NewMemory())
		_, err := src.Login(testCtx(t, 30*time.Second), idp.LoginRequest{Certificate: file})
		if x5c && err != nil {
			t.Fatalf("send_x5c: %v", err)
		}
		if !x5c && (err == nil || !strings.Contains(err.Error(), "AADSTS700027")) {
			t.Fatalf("without send_x5c: %v, want AADSTS700027", err)
		}
	}
}

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
