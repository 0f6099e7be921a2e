package entra

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1" // #nosec G505 -- the certificate thumbprint Azure shows is SHA-1
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tokend/tokend/internal/flow"
	"github.com/tokend/tokend/internal/idp"
	"github.com/tokend/tokend/internal/pkcs12"
)

// certificateFlow is a service principal with a client certificate: MSAL
// signs each client assertion with the private key (PS256, the thumbprint
// in x5t#S256; with send_x5c also the chain in x5c, for subject name and
// issuer authentication). Login takes the certificate file's content (PEM,
// or PKCS#12 with its password), checks it, proves it with the identity
// provider, and only then stores it, as PEM (certificate chain and PKCS#8
// key), replacing the previous one. A PFX password is used once and not
// kept.
type certificateFlow struct {
	s    *Source
	mu   sync.Mutex // guards the fields below; token calls run in parallel
	blob []byte     // the stored credential app was built from
	leaf *x509.Certificate
	app  *confidential.Client
}

// maxCertificateFile bounds a certificate file (chains are a few KB).
const maxCertificateFile = 256 << 10

func (f *certificateFlow) client(blob []byte) (*confidential.Client, *x509.Certificate, error) {
	certs, key, err := confidential.CertFromPEM(blob, "")
	if err != nil {
		return nil, nil, err
	}
	cred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		return nil, nil, err
	}
	p := f.s.profile
	opts := []confidential.Option{
		confidential.WithHTTPClient(f.s.opts.HTTPClient),
		confidential.WithInstanceDiscovery(f.s.instanceDiscovery()),
		confidential.WithCache(&msalCache{}), // no access tokens kept: see clientSecretFlow
	}
	if p.SendX5C {
		opts = append(opts, confidential.WithX5C())
	}
	app, err := confidential.New(p.AuthorityURL(), p.ClientID, cred, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("msal client: %w", err)
	}
	return &app, certs[0], nil
}

func (f *certificateFlow) login(ctx context.Context, req idp.LoginRequest) (idp.Token, error) {
	name := f.s.profile.Name
	if len(req.Certificate) == 0 {
		return idp.Token{}, fmt.Errorf("a certificate is required: `token login %s --certificate FILE` (PEM with the private key, or PFX with its password on stdin)", name)
	}
	blob, leaf, err := readCertificate(req.Certificate, req.CertificatePassword, f.s.opts.Clock.Now())
	if err != nil {
		return idp.Token{}, err
	}
	// Prove it works before it replaces the stored one.
	app, _, err := f.client(blob)
	if err != nil {
		return idp.Token{}, fmt.Errorf("certificate: %w", err)
	}
	t, err := acquireByCredential(ctx, app, f.s.profile.Scopes, f.s.profile.ClientID)
	if err != nil {
		return idp.Token{}, err
	}
	if err := f.s.opts.Secrets.Set(ctx, f.s.key(keyClientCertificate), blob); err != nil {
		return idp.Token{}, fmt.Errorf("store client certificate: %w", err)
	}
	f.mu.Lock()
	f.blob, f.leaf, f.app = blob, leaf, app
	f.mu.Unlock()
	// Keys the daemon's redacting logger prints: id is the thumbprint.
	f.s.opts.Logger.Info("client certificate stored", "profile", name, "account", leaf.Subject.CommonName,
		"id", thumbprint(leaf), "expires", leaf.NotAfter.UTC().Format(time.RFC3339))
	return t, nil
}

func (f *certificateFlow) token(ctx context.Context, scopes []string) (idp.Token, error) {
	name := f.s.profile.Name
	blob, err := f.s.secret(ctx, keyClientCertificate, "run `"+flow.Get(flow.ClientCertificate).LoginCommand(name)+"`")
	if err != nil {
		return idp.Token{}, err
	}
	f.mu.Lock()
	if f.app == nil || !bytes.Equal(blob, f.blob) {
		app, leaf, err := f.client(blob)
		if err != nil {
			f.mu.Unlock()
			return idp.Token{}, fmt.Errorf("the stored certificate of profile %s is unusable (%v): %w", name, err, idp.ErrLoginRequired)
		}
		f.blob, f.leaf, f.app = blob, leaf, app
	}
	app, leaf := f.app, f.leaf
	f.mu.Unlock()
	if f.s.opts.Clock.Now().After(leaf.NotAfter) {
		return idp.Token{}, fmt.Errorf("the certificate of profile %s (%s, thumbprint %s) expired on %s: register a renewed certificate on the app and sign in with it: %w",
			name, leaf.Subject.CommonName, thumbprint(leaf), leaf.NotAfter.UTC().Format(time.RFC3339), idp.ErrLoginRequired)
	}
	return acquireByCredential(ctx, app, scopes, f.s.profile.ClientID)
}

func (f *certificateFlow) forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blob, f.leaf, f.app = nil, nil, nil
}

// readCertificate reads a certificate file: PEM (certificates and a
// private key, PKCS#8, PKCS#1 or encrypted PKCS#8) or PKCS#12. It returns
// the credential as tokend stores it (PEM: the certificate that matches the
// key first, then the rest of the chain, then the key as PKCS#8) and that
// certificate, valid at now.
func readCertificate(data []byte, password string, now time.Time) ([]byte, *x509.Certificate, error) {
	if len(data) > maxCertificateFile {
		return nil, nil, fmt.Errorf("certificate: the file is too large (%d bytes) to be a certificate", len(data))
	}
	var certs []*x509.Certificate
	var key any
	var err error
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		certs, key, err = readPEM(data, password)
	} else {
		key, certs, err = pkcs12.Decode(data, password)
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword) && password == "":
			err = errors.New("the PFX file is protected by a password: pipe it to stdin")
		case errors.Is(err, pkcs12.ErrIncorrectPassword):
			err = errors.New("wrong password for the PFX file")
		case err != nil:
			err = fmt.Errorf("neither PEM nor a PFX file that tokend can read: %w", err)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("certificate: %w", err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("certificate: the private key is %s; Entra ID client certificates used through MSAL must be RSA", keyKind(key))
	}
	leaf := -1
	for i, c := range certs {
		if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && pub.Equal(&rk.PublicKey) {
			leaf = i
			break
		}
	}
	if leaf < 0 {
		return nil, nil, errors.New("certificate: the private key belongs to none of the certificates in the file")
	}
	c := certs[leaf]
	switch {
	case now.After(c.NotAfter):
		return nil, nil, fmt.Errorf("certificate: %s (thumbprint %s) expired on %s: use a renewed certificate, registered on the app",
			c.Subject.CommonName, thumbprint(c), c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return nil, nil, fmt.Errorf("certificate: %s (thumbprint %s) is not valid before %s",
			c.Subject.CommonName, thumbprint(c), c.NotBefore.UTC().Format(time.RFC3339))
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(rk)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate: %w", err)
	}
	var out bytes.Buffer
	_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	for i, o := range certs {
		if i != leaf {
			_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: o.Raw})
		}
	}
	_ = pem.Encode(&out, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return out.Bytes(), c, nil
}

// readPEM reads certificates and one private key from PEM.
func readPEM(data []byte, password string) ([]*x509.Certificate, any, error) {
	var certs []*x509.Certificate
	var key any
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var k any
		var err error
		switch {
		case b.Headers["DEK-Info"] != "":
			return nil, nil, errors.New("the private key is encrypted the legacy OpenSSL way (DEK-Info), which tokend does not read: convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD -out NEW` (or make a PFX)")
		case b.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("a CERTIFICATE block: %w", err)
			}
			certs = append(certs, c)
			continue
		case b.Type == "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case b.Type == "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case b.Type == "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case b.Type == "ENCRYPTED PRIVATE KEY":
			if password == "" {
				return nil, nil, errors.New("the private key is encrypted: pipe its password to stdin")
			}
			k, err = pkcs12.DecryptPKCS8(b.Bytes, password)
			if errors.Is(err, pkcs12.ErrIncorrectPassword) {
				return nil, nil, errors.New("wrong password for the encrypted private key")
			}
		default:
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("the private key: %w", err)
		}
		if key != nil {
			return nil, nil, errors.New("more than one private key in the file")
		}
		key = k
	}
	switch {
	case len(certs) == 0:
		return nil, nil, errors.New("no CERTIFICATE in the PEM file")
	case key == nil:
		return nil, nil, errors.New("no private key in the PEM file: put the key after the certificate (cat cert.pem key.pem), or use a PFX")
	}
	return certs, key, nil
}

func keyKind(k any) string {
	switch k.(type) {
	case *ecdsa.PrivateKey:
		return "ECDSA"
	case ed25519.PrivateKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", k)
}

// thumbprint is the certificate's SHA-1 thumbprint in the hex form the Azure
// portal shows.
func thumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw) // #nosec G401 -- a thumbprint, not a signature
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}
