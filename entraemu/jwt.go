package entraemu

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"strings"
	"time"
)

// signJWT signs claims as an RS256 JWT with the emulator's key and kid
// (x5t too, as Entra's tokens name it).
func (p *pki) signJWT(claims map[string]any) (string, error) {
	return signJWT(p.signKey, map[string]any{"typ": "JWT", "alg": "RS256", "kid": p.kid, "x5t": p.kid}, claims)
}

// signJWT signs claims under header (which says RS256) with key.
func signJWT(key *rsa.PrivateKey, header, claims map[string]any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwk is one key of the JWKS document.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5c    []string `json:"x5c"`
	Issuer string   `json:"issuer"`
}

func (p *pki) jwks(issuer string) map[string][]jwk {
	pub := &p.signKey.PublicKey
	return map[string][]jwk{"keys": {{
		Kty:    "RSA",
		Use:    "sig",
		Kid:    p.kid,
		X5t:    p.kid,
		N:      b64(pub.N.Bytes()),
		E:      b64(big.NewInt(int64(pub.E)).Bytes()),
		X5c:    []string{base64.StdEncoding.EncodeToString(p.signCert.Raw)},
		Issuer: issuer,
	}}}
}

// assertion is a parsed (not yet verified) client assertion JWT.
type assertion struct {
	signed string // header.payload
	sig    []byte
	header struct {
		Alg     string   `json:"alg"`
		X5t     string   `json:"x5t"`
		X5tS256 string   `json:"x5t#S256"`
		X5c     []string `json:"x5c"`
		Kid     string   `json:"kid"`
		Typ     string   `json:"typ"`
	}
	claims struct {
		Aud audience    `json:"aud"`
		Iss string      `json:"iss"`
		Sub string      `json:"sub"`
		Exp json.Number `json:"exp"`
		Nbf json.Number `json:"nbf"`
		Jti string      `json:"jti"`
	}
}

// audience is a JWT aud: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = audience{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return err
	}
	*a = ss
	return nil
}

func parseAssertion(s string) (*assertion, *oauthError) {
	malformed := errInvalidRequest(50027, "JWT token is invalid or malformed.")
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, malformed
	}
	a := &assertion{signed: parts[0] + "." + parts[1]}
	h, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	c, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, malformed
	}
	if json.Unmarshal(h, &a.header) != nil {
		return nil, malformed
	}
	d := json.NewDecoder(bytes.NewReader(c))
	d.UseNumber()
	if d.Decode(&a.claims) != nil {
		return nil, malformed
	}
	a.sig = sig
	return a, nil
}

// verifyAssertion checks a client assertion for c: signature by one of c's
// certificates (found by x5t#S256 or x5t; RS256 or PS256), iss = sub =
// client id, aud = this tenant's token endpoint (v2 or v1) or issuer, and
// exp/nbf. Clients sign with their wall clock while tests move the
// emulator's, so the time window is accepted against either clock.
func (e *Emulator) verifyAssertion(c *client, raw, host string, now time.Time) *oauthError {
	a, oe := parseAssertion(raw)
	if oe != nil {
		return oe
	}
	if a.header.X5t == "" && a.header.X5tS256 == "" && len(a.header.X5c) == 0 {
		// No certificate named: a token of another issuer to exchange
		// (workload identity federation).
		return e.verifyFederated(c, a, now)
	}
	var key *rsa.PublicKey
	var found registeredCert
	e.mu.Lock()
	for _, rc := range c.certs {
		if thumbprintMatches(a.header.X5tS256, rc.sha256) || thumbprintMatches(a.header.X5t, rc.sha1) {
			key, found = rc.pub, rc
			break
		}
	}
	e.mu.Unlock()
	if key != nil && expired(found.notBefore, found.notAfter, now) {
		return errKeyExpired(c.id, found.notBefore, found.notAfter)
	}
	if key == nil {
		var oe *oauthError
		if key, oe = e.subjectKey(c, a.header.X5c, now); oe != nil {
			return oe
		}
	}
	if key == nil {
		tp := a.header.X5tS256
		if tp == "" {
			tp = a.header.X5t
		}
		return errInvalidClient(700027, "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]", sanitize(tp), c.id)
	}
	sum := sha256.Sum256([]byte(a.signed))
	var err error
	switch a.header.Alg {
	case "RS256":
		err = rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], a.sig)
	case "PS256":
		err = rsa.VerifyPSS(key, crypto.SHA256, sum[:], a.sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	default:
		return errInvalidClient(700027, "Client assertion failed signature validation. [Reason - The algorithm '%s' is not supported.]", sanitize(a.header.Alg))
	}
	if err != nil {
		return errInvalidClient(700027, "Client assertion contains an invalid signature. [Reason - The key was found, but the signature could not be verified.]")
	}
	if a.claims.Iss != c.id || a.claims.Sub != c.id {
		return errInvalidClient(700023, "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .")
	}
	if !audienceOK(a.claims.Aud, host) {
		return errInvalidClient(700212, "No matching federated identity record found for presented assertion audience '%s'. The audience must be this tenant's token endpoint.", sanitize(strings.Join(a.claims.Aud, " ")))
	}
	exp, err1 := a.claims.Exp.Float64()
	if err1 != nil || math.IsNaN(exp) {
		return errInvalidClient(700024, "Client assertion is not within its valid time range. The assertion has no valid 'exp'.")
	}
	nbf, err2 := a.claims.Nbf.Float64()
	if err2 != nil || math.IsNaN(nbf) {
		nbf = math.Inf(-1)
	}
	inWindow := func(t time.Time) bool {
		const skew = 5 * 60
		s := float64(t.Unix())
		return s >= nbf-skew && s <= exp+skew
	}
	if !inWindow(now) && !inWindow(time.Now()) {
		return errInvalidClient(700024, "Client assertion is not within its valid time range.")
	}
	return nil
}

// thumbprintMatches compares a JOSE thumbprint header (base64url, or the
// padded standard base64 MSAL Go sends, or hex) with want.
func thumbprintMatches(header string, want []byte) bool {
	if header == "" {
		return false
	}
	for _, dec := range []func(string) ([]byte, error){
		base64.RawURLEncoding.DecodeString,
		base64.URLEncoding.DecodeString,
		base64.StdEncoding.DecodeString,
		base64.RawStdEncoding.DecodeString,
		hex.DecodeString,
	} {
		if got, err := dec(header); err == nil && subtle.ConstantTimeCompare(got, want) == 1 {
			return true
		}
	}
	return false
}

// audienceOK accepts the endpoints MSAL and other libraries use as the
// assertion audience: the v2 or v1 token endpoint, the issuer, or the bare
// authority, of this host and any tenant alias.
func audienceOK(aud audience, host string) bool {
	for _, a := range aud {
		u, err := url.Parse(a)
		if err != nil || u.Scheme != "https" || !strings.EqualFold(u.Host, host) {
			continue
		}
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(parts) == 0 || !knownTenant(parts[0]) {
			continue
		}
		switch strings.ToLower(strings.Join(parts[1:], "/")) {
		case "oauth2/v2.0/token", "oauth2/token", "v2.0", "":
			return true
		}
	}
	return false
}

// sanitize trims attacker-supplied text echoed in error descriptions.
func sanitize(s string) string {
	if len(s) > 128 {
		s = s[:128] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// Claims returns the claims of token if this emulator signed it (RS256 with
// its key), else an error. It checks the signature only, not the expiry or
// the audience: a test that got a token from code under test can see what
// the emulator put in it, and that it came from here.
func (e *Emulator) Claims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("entraemu: not a JWT (%d parts)", len(parts))
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("entraemu: JWT signature: %w", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&e.pki.signKey.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		return nil, errors.New("entraemu: the token was not signed by this emulator")
	}
	return DecodeClaims(token)
}

// DecodeClaims returns the claims of a JWT without checking its signature
// (Emulator.Claims checks it).
func DecodeClaims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("entraemu: not a JWT (%d parts)", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("entraemu: JWT payload: %w", err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("entraemu: JWT payload: %w", err)
	}
	return c, nil
}
