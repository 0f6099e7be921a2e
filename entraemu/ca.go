package entraemu

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" // #nosec G505 -- x5t thumbprints are SHA-1 by definition
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/tokend/tokend/internal/atomicfile"
)

// Certificates are dated with the real clock, never Config.Clock: TLS
// clients check them against their own wall clock.

// pki holds the emulator's keys and certificates.
type pki struct {
	caCert *x509.Certificate
	caKey  crypto.Signer
	caPEM  []byte

	server tls.Certificate

	signKey  *rsa.PrivateKey
	signCert *x509.Certificate
	kid      string // also the x5t of signCert

	clientCert    *x509.Certificate
	clientCertPEM []byte
	clientKeyPEM  []byte
}

// newPKI makes (or, with dir, reuses) the CA and the fixture client
// certificate, and always makes a fresh server certificate and signing key.
func newPKI(dir string) (*pki, error) {
	p := &pki{}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("emulator: %w", err)
		}
		p.loadCA(dir)
	}
	if p.caCert == nil {
		if err := p.makeCA(); err != nil {
			return nil, err
		}
		if dir != "" {
			keyDER, err := x509.MarshalPKCS8PrivateKey(p.caKey)
			if err != nil {
				return nil, fmt.Errorf("emulator: %w", err)
			}
			if err := atomicfile.Write(filepath.Join(dir, "ca-key.pem"), pemBlock("PRIVATE KEY", keyDER), 0o600, nil); err != nil {
				return nil, err
			}
		}
	}
	if dir != "" {
		if err := atomicfile.Write(filepath.Join(dir, "ca.pem"), p.caPEM, 0o644, nil); err != nil {
			return nil, err
		}
	}
	if err := p.makeServerCert(); err != nil {
		return nil, err
	}
	if err := p.makeSigningKey(); err != nil {
		return nil, err
	}
	if dir != "" {
		p.loadClientCert(filepath.Join(dir, "client.pem"))
	}
	if p.clientCert == nil {
		if err := p.makeClientCert(); err != nil {
			return nil, err
		}
	}
	if dir != "" {
		both := append(append([]byte{}, p.clientCertPEM...), p.clientKeyPEM...)
		if err := atomicfile.Write(filepath.Join(dir, "client.pem"), both, 0o600, nil); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// loadCA reuses dir's CA when both files parse, match, and stay valid for at
// least a day. Anything else is silently replaced.
func (p *pki) loadCA(dir string) {
	certPEM, err1 := os.ReadFile(filepath.Join(dir, "ca.pem"))
	keyPEM, err2 := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	if err1 != nil || err2 != nil {
		return
	}
	cert := parseCertPEM(certPEM)
	key := parseKeyPEM(keyPEM)
	if cert == nil || key == nil || !cert.IsCA || !samePublicKey(cert.PublicKey, key.Public()) ||
		time.Now().Add(24*time.Hour).After(cert.NotAfter) {
		return
	}
	p.caCert, p.caKey, p.caPEM = cert, key, pemBlock("CERTIFICATE", cert.Raw)
}

// loadClientCert reuses an existing fixture client certificate.
func (p *pki) loadClientCert(path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	cert := parseCertPEM(data)
	key := parseKeyPEM(data)
	rk, ok := key.(*rsa.PrivateKey)
	if cert == nil || !ok || !samePublicKey(cert.PublicKey, rk.Public()) ||
		time.Now().Add(24*time.Hour).After(cert.NotAfter) {
		return
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(rk)
	if err != nil {
		return
	}
	p.clientCert, p.clientCertPEM, p.clientKeyPEM = cert, pemBlock("CERTIFICATE", cert.Raw), pemBlock("PRIVATE KEY", keyDER)
}

func (p *pki) makeCA() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "tokend emulator CA", Organization: []string{"tokend"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	p.caCert, p.caKey, p.caPEM = cert, key, pemBlock("CERTIFICATE", der)
	return nil
}

func (p *pki) makeServerCert(extra ...net.IP) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"tokend emulator"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, extra...),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, key.Public(), p.caKey)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	p.server = tls.Certificate{Certificate: [][]byte{der, p.caCert.Raw}, PrivateKey: key, Leaf: leaf}
	return nil
}

// makeSigningKey makes the token signing key and a self-signed certificate
// for it (the JWKS x5c); kid is the certificate's x5t, as in Entra.
func (p *pki) makeSigningKey() error {
	key, cert, err := selfSigned("tokend emulator token signing")
	if err != nil {
		return err
	}
	sum := sha1.Sum(cert.Raw) // #nosec G401 -- x5t
	p.signKey, p.signCert, p.kid = key, cert, base64.RawURLEncoding.EncodeToString(sum[:])
	return nil
}

// makeClientCert makes the fixture client certificate (RSA, self-signed,
// as app registrations usually have).
func (p *pki) makeClientCert() error {
	key, cert, err := selfSigned("tokend emulator client")
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	p.clientCert, p.clientCertPEM, p.clientKeyPEM = cert, pemBlock("CERTIFICATE", cert.Raw), pemBlock("PRIVATE KEY", keyDER)
	return nil
}

// selfSigned makes an RSA key and a self-signed certificate for it.
func selfSigned(cn string) (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("emulator: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"tokend emulator"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(2, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("emulator: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

// registeredCert is a client certificate registered for an app, indexed by
// its thumbprints.
type registeredCert struct {
	pub                 *rsa.PublicKey
	sha1                []byte
	sha256              []byte
	notBefore, notAfter time.Time // the key credential's validity: the certificate's
}

func newRegisteredCert(cert *x509.Certificate) (registeredCert, error) {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return registeredCert{}, errors.New("emulator: only RSA client certificates are supported")
	}
	s1 := sha1.Sum(cert.Raw) // #nosec G401 -- x5t
	s256 := sha256.Sum256(cert.Raw)
	return registeredCert{pub: pub, sha1: s1[:], sha256: s256[:], notBefore: cert.NotBefore, notAfter: cert.NotAfter}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n.Add(n, big.NewInt(1))
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// parseCertPEM returns the first certificate in data.
func parseCertPEM(data []byte) *x509.Certificate {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil
			}
			return c
		}
	}
}

// parseKeyPEM returns the first private key in data (PKCS#8, PKCS#1 or SEC 1).
func parseKeyPEM(data []byte) crypto.Signer {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil
		}
		s, _ := k.(crypto.Signer)
		return s
	}
}

func samePublicKey(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}
