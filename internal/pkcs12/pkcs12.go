// Package pkcs12 reads PKCS#12 (PFX) files, the form in which Windows, Azure
// Key Vault and `openssl pkcs12 -export` hand out a certificate together with
// its private key, and PKCS#8 encrypted private keys (PEM "ENCRYPTED PRIVATE
// KEY", `openssl pkcs8 -topk8`).
//
// It reads what those tools write: password integrity (an HMAC with SHA-1,
// SHA-256, SHA-384 or SHA-512, key derived as RFC 7292 appendix B says),
// certificate and key bags, plain or encrypted, under PBES2 (PBKDF2 with
// AES-CBC or 3DES-CBC, RFC 8018) or the legacy PKCS#12 schemes (SHA-1 with
// 2- or 3-key 3DES, or with 40- or 128-bit RC2). It does not read
// public-key integrity or privacy modes, BER indefinite lengths or PBMAC1,
// and it writes nothing. The standard library and MSAL Go read no PKCS#12 at
// all, and golang.org/x/crypto/pkcs12 cannot open what OpenSSL 3 writes by
// default (AES-256 under PBES2). software.sslmate.com/src/go-pkcs12 v0.7.4
// opens that, but it fails two of the files in testdata (rc2-128.pfx: 2-key
// 3DES; mixed.pfx: 3DES under PBES2), takes iteration counts from the file
// unbounded (SSLMate/go-pkcs12 issue 80: about a second of CPU per 10 million
// MAC iterations, whatever the password), and decrypts no PKCS#8 keys.
//
// Input is untrusted: sizes and iteration counts are bounded, and a wrong
// password is ErrIncorrectPassword, never a panic or a garbage key.
package pkcs12

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1" // #nosec G505 -- legacy PKCS#12 schemes are SHA-1 by definition
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"unicode/utf16"
)

// ErrIncorrectPassword means the password does not open the file: its MAC
// does not verify, or (for a file without MAC) what it decrypts to is not
// what it should be.
var ErrIncorrectPassword = errors.New("pkcs12: wrong password")

// Limits on untrusted input.
const (
	maxInput      = 1 << 20   // bytes of a PFX
	maxIterations = 4_000_000 // of a key derivation; OpenSSL writes 2048, Windows 2000 to 10000
	maxBags       = 64
)

var (
	oidData                 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidKeyBag               = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKeyBag       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBag              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidX509Certificate      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
	oidPBEWithSHA3KeyDES    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
	oidPBEWithSHA2KeyDES    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 4}
	oidPBEWithSHA128BitRC2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 5}
	oidPBEWithSHA40BitRC2   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 6}
	oidPBES2                = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2               = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACWithSHA1         = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACWithSHA256       = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACWithSHA384       = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACWithSHA512       = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC           = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidSHA1                 = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	errMalformed            = errors.New("pkcs12: not a PKCS#12 file, or a damaged one")
	errUnsupportedAlgorithm = errors.New("pkcs12: unsupported algorithm")
	errTooManyIterations    = errors.New("pkcs12: too many key-derivation iterations")
)

// ASN.1 shapes of RFC 7292, RFC 5652 and RFC 8018.
type (
	contentInfo struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
	}
	pfxPDU struct {
		Version  int
		AuthSafe contentInfo
		MacData  macData `asn1:"optional"`
	}
	macData struct {
		Mac        digestInfo
		MacSalt    []byte
		Iterations int `asn1:"optional,default:1"`
	}
	digestInfo struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	encryptedData struct {
		Version              int
		EncryptedContentInfo encryptedContentInfo
	}
	encryptedContentInfo struct {
		ContentType                asn1.ObjectIdentifier
		ContentEncryptionAlgorithm pkix.AlgorithmIdentifier
		EncryptedContent           []byte `asn1:"tag:0,optional"`
	}
	safeBag struct {
		ID         asn1.ObjectIdentifier
		Value      asn1.RawValue   `asn1:"tag:0,explicit"`
		Attributes []asn1.RawValue `asn1:"set,optional"`
	}
	certBag struct {
		ID   asn1.ObjectIdentifier
		Data []byte `asn1:"tag:0,explicit"`
	}
	encryptedPrivateKeyInfo struct {
		Algorithm     pkix.AlgorithmIdentifier
		EncryptedData []byte
	}
	pbes2Params struct {
		KeyDerivationFunc pkix.AlgorithmIdentifier
		EncryptionScheme  pkix.AlgorithmIdentifier
	}
	pbkdf2Params struct {
		Salt       []byte
		Iterations int
		KeyLength  int                      `asn1:"optional"`
		PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
	}
	pbeParams struct {
		Salt       []byte
		Iterations int
	}
)

// unmarshal decodes DER into v and refuses trailing bytes.
func unmarshal(der []byte, v any) error {
	rest, err := asn1.Unmarshal(der, v)
	if err != nil || len(rest) != 0 {
		return errMalformed
	}
	return nil
}

// Decode returns the private key and the certificates of a PKCS#12 file.
// The certificates come in the file's order; the key must be the only one.
func Decode(pfx []byte, password string) (crypto.PrivateKey, []*x509.Certificate, error) {
	return decode(pfx, password, maxIterations)
}

// decode is Decode with a bound on iteration counts (fuzzing uses a low one).
func decode(pfx []byte, password string, maxIter int) (crypto.PrivateKey, []*x509.Certificate, error) {
	if len(pfx) > maxInput {
		return nil, nil, fmt.Errorf("pkcs12: file too large (%d bytes)", len(pfx))
	}
	var pdu pfxPDU
	if err := unmarshal(pfx, &pdu); err != nil {
		return nil, nil, err
	}
	if pdu.Version != 3 {
		return nil, nil, fmt.Errorf("pkcs12: version %d, want 3", pdu.Version)
	}
	if !pdu.AuthSafe.ContentType.Equal(oidData) {
		return nil, nil, errors.New("pkcs12: public-key integrity mode is not supported (only password integrity)")
	}
	var authSafe []byte
	if err := unmarshal(pdu.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return nil, nil, err
	}
	pw, err := passwords(password, pdu.MacData, authSafe, maxIter)
	if err != nil {
		return nil, nil, err
	}
	var contents []contentInfo
	if err := unmarshal(authSafe, &contents); err != nil {
		return nil, nil, err
	}
	var bags []safeBag
	for _, ci := range contents {
		var raw []byte
		switch {
		case ci.ContentType.Equal(oidData):
			if err := unmarshal(ci.Content.Bytes, &raw); err != nil {
				return nil, nil, err
			}
		case ci.ContentType.Equal(oidEncryptedData):
			var ed encryptedData
			if err := unmarshal(ci.Content.Bytes, &ed); err != nil {
				return nil, nil, err
			}
			if raw, err = pw.decrypt(ed.EncryptedContentInfo.ContentEncryptionAlgorithm, ed.EncryptedContentInfo.EncryptedContent); err != nil {
				return nil, nil, err
			}
		default:
			return nil, nil, fmt.Errorf("pkcs12: content type %v is not supported (only password privacy)", ci.ContentType)
		}
		var more []safeBag
		if err := unmarshal(raw, &more); err != nil {
			return nil, nil, err
		}
		if bags = append(bags, more...); len(bags) > maxBags {
			return nil, nil, errMalformed
		}
	}
	var key crypto.PrivateKey
	var certs []*x509.Certificate
	for _, b := range bags {
		var k crypto.PrivateKey
		switch {
		case b.ID.Equal(oidCertBag):
			var cb certBag
			if err := unmarshal(b.Value.Bytes, &cb); err != nil {
				return nil, nil, err
			}
			if !cb.ID.Equal(oidX509Certificate) {
				continue // SDSI certificates: nobody uses them
			}
			c, err := x509.ParseCertificate(cb.Data)
			if err != nil {
				return nil, nil, fmt.Errorf("pkcs12: certificate: %w", err)
			}
			certs = append(certs, c)
		case b.ID.Equal(oidKeyBag):
			if k, err = x509.ParsePKCS8PrivateKey(b.Value.Bytes); err != nil {
				return nil, nil, fmt.Errorf("pkcs12: private key: %w", err)
			}
		case b.ID.Equal(oidShroudedKeyBag):
			if k, err = pw.decryptKey(b.Value.Bytes); err != nil {
				return nil, nil, err
			}
		}
		if k != nil {
			if key != nil {
				return nil, nil, errors.New("pkcs12: more than one private key in the file")
			}
			key = k
		}
	}
	if key == nil {
		return nil, nil, errors.New("pkcs12: no private key in the file")
	}
	if len(certs) == 0 {
		return nil, nil, errors.New("pkcs12: no certificate in the file")
	}
	return key, certs, nil
}

// DecryptPKCS8 decrypts a PKCS#8 EncryptedPrivateKeyInfo (the DER of a PEM
// "ENCRYPTED PRIVATE KEY" block) and parses the key.
func DecryptPKCS8(der []byte, password string) (crypto.PrivateKey, error) {
	if len(der) > maxInput {
		return nil, fmt.Errorf("pkcs12: key too large (%d bytes)", len(der))
	}
	return (&password2{utf8: []byte(password), bmp: bmpString(password), maxIter: maxIterations}).decryptKey(der)
}

// password2 is a password in the two encodings PKCS#12 uses: UTF-8 for
// PBES2, and a NUL-terminated big-endian UTF-16 string for the legacy
// schemes and the MAC.
type password2 struct {
	utf8, bmp []byte
	maxIter   int // bound on iteration counts
}

// bmpString is s as RFC 7292 appendix B.1 encodes passwords: UTF-16BE with
// two trailing zero bytes.
func bmpString(s string) []byte {
	u := utf16.Encode([]rune(s))
	out := make([]byte, 0, 2*len(u)+2)
	for _, r := range u {
		out = append(out, byte(r>>8), byte(r))
	}
	return append(out, 0, 0)
}

// passwords checks the MAC, if there is one, and returns the password
// encodings that verified it. An empty password is tried both as a
// terminated empty string and as no bytes at all: writers disagree.
func passwords(password string, md macData, authSafe []byte, maxIter int) (*password2, error) {
	cands := []*password2{{utf8: []byte(password), bmp: bmpString(password), maxIter: maxIter}}
	if password == "" {
		cands = append(cands, &password2{maxIter: maxIter})
	}
	if md.Mac.Algorithm.Algorithm == nil {
		return cands[0], nil // no integrity: decryption finds a wrong password
	}
	h, err := digest(md.Mac.Algorithm.Algorithm)
	if err != nil {
		return nil, err
	}
	if err := checkIterations(md.Iterations, maxIter); err != nil {
		return nil, err
	}
	for _, pw := range cands {
		key := kdf12(h, pw.bmp, md.MacSalt, md.Iterations, 3, h().Size())
		mac := hmac.New(h, key)
		mac.Write(authSafe)
		if hmac.Equal(mac.Sum(nil), md.Mac.Digest) {
			return pw, nil
		}
	}
	return nil, ErrIncorrectPassword
}

// checkIterations checks an iteration count read from the file before
// anything is derived with it: the count is the file's to choose, and a few
// bytes more ask for minutes of CPU.
func checkIterations(n, maxIter int) error {
	switch {
	case n < 1:
		return errMalformed
	case n > maxIter:
		return fmt.Errorf("%w: %d, at most %d", errTooManyIterations, n, maxIter)
	}
	return nil
}

func digest(oid asn1.ObjectIdentifier) (func() hash.Hash, error) {
	switch {
	case oid.Equal(oidSHA1):
		return sha1.New, nil
	case oid.Equal(oidSHA256):
		return sha256.New, nil
	case oid.Equal(oidSHA384):
		return sha512.New384, nil
	case oid.Equal(oidSHA512):
		return sha512.New, nil
	}
	return nil, fmt.Errorf("%w: MAC digest %v", errUnsupportedAlgorithm, oid)
}

func (pw *password2) decryptKey(der []byte) (crypto.PrivateKey, error) {
	var info encryptedPrivateKeyInfo
	if err := unmarshal(der, &info); err != nil {
		return nil, err
	}
	plain, err := pw.decrypt(info.Algorithm, info.EncryptedData)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(plain)
	if err != nil {
		// Padding that happens to look right under a wrong password.
		return nil, ErrIncorrectPassword
	}
	return k, nil
}

// decrypt decrypts data encrypted with alg under the password.
func (pw *password2) decrypt(alg pkix.AlgorithmIdentifier, data []byte) ([]byte, error) {
	block, iv, err := pw.cipher(alg)
	if err != nil {
		return nil, err
	}
	bs := block.BlockSize()
	if len(data) == 0 || len(data)%bs != 0 || len(iv) != bs {
		return nil, errMalformed
	}
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, data)
	n := int(out[len(out)-1])
	if n == 0 || n > bs || !bytes.Equal(out[len(out)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return nil, ErrIncorrectPassword
	}
	return out[:len(out)-n], nil
}

// cipher returns the block cipher and IV of a password-based encryption
// algorithm.
func (pw *password2) cipher(alg pkix.AlgorithmIdentifier) (cipher.Block, []byte, error) {
	if alg.Algorithm.Equal(oidPBES2) {
		return pw.pbes2(alg.Parameters.FullBytes)
	}
	var p pbeParams
	if err := unmarshal(alg.Parameters.FullBytes, &p); err != nil {
		return nil, nil, err
	}
	if err := checkIterations(p.Iterations, pw.maxIter); err != nil {
		return nil, nil, err
	}
	derive := func(id, n int) []byte { return kdf12(sha1.New, pw.bmp, p.Salt, p.Iterations, id, n) }
	switch {
	case alg.Algorithm.Equal(oidPBEWithSHA3KeyDES):
		b, err := des.NewTripleDESCipher(derive(1, 24))
		return b, derive(2, 8), err
	case alg.Algorithm.Equal(oidPBEWithSHA2KeyDES):
		k := derive(1, 16)
		b, err := des.NewTripleDESCipher(append(k, k[:8]...))
		return b, derive(2, 8), err
	case alg.Algorithm.Equal(oidPBEWithSHA40BitRC2):
		return newRC2(derive(1, 5), 40), derive(2, 8), nil
	case alg.Algorithm.Equal(oidPBEWithSHA128BitRC2):
		return newRC2(derive(1, 16), 128), derive(2, 8), nil
	}
	return nil, nil, fmt.Errorf("%w: encryption %v", errUnsupportedAlgorithm, alg.Algorithm)
}

// pbes2 is RFC 8018's PBES2 with PBKDF2.
func (pw *password2) pbes2(params []byte) (cipher.Block, []byte, error) {
	var p pbes2Params
	if err := unmarshal(params, &p); err != nil {
		return nil, nil, err
	}
	if !p.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2) {
		return nil, nil, fmt.Errorf("%w: key derivation %v", errUnsupportedAlgorithm, p.KeyDerivationFunc.Algorithm)
	}
	var kp pbkdf2Params
	if err := unmarshal(p.KeyDerivationFunc.Parameters.FullBytes, &kp); err != nil {
		return nil, nil, err
	}
	if err := checkIterations(kp.Iterations, pw.maxIter); err != nil {
		return nil, nil, err
	}
	prf := sha1.New
	switch oid := kp.PRF.Algorithm; {
	case oid == nil || oid.Equal(oidHMACWithSHA1):
	case oid.Equal(oidHMACWithSHA256):
		prf = sha256.New
	case oid.Equal(oidHMACWithSHA384):
		prf = sha512.New384
	case oid.Equal(oidHMACWithSHA512):
		prf = sha512.New
	default:
		return nil, nil, fmt.Errorf("%w: PBKDF2 PRF %v", errUnsupportedAlgorithm, oid)
	}
	var newBlock func([]byte) (cipher.Block, error)
	var keyLen int
	switch oid := p.EncryptionScheme.Algorithm; {
	case oid.Equal(oidAES128CBC):
		newBlock, keyLen = aes.NewCipher, 16
	case oid.Equal(oidAES192CBC):
		newBlock, keyLen = aes.NewCipher, 24
	case oid.Equal(oidAES256CBC):
		newBlock, keyLen = aes.NewCipher, 32
	case oid.Equal(oidDESEDE3CBC):
		newBlock, keyLen = des.NewTripleDESCipher, 24
	default:
		return nil, nil, fmt.Errorf("%w: encryption %v", errUnsupportedAlgorithm, oid)
	}
	if kp.KeyLength != 0 && kp.KeyLength != keyLen {
		return nil, nil, errMalformed
	}
	var iv []byte
	if err := unmarshal(p.EncryptionScheme.Parameters.FullBytes, &iv); err != nil {
		return nil, nil, err
	}
	key, err := pbkdf2.Key(prf, string(pw.utf8), kp.Salt, kp.Iterations, keyLen)
	if err != nil {
		return nil, nil, fmt.Errorf("pkcs12: %w", err)
	}
	b, err := newBlock(key)
	return b, iv, err
}

// kdf12 is the key derivation of RFC 7292 appendix B.2: n bytes of key
// material (id 1), IV (id 2) or MAC key (id 3) from a BMP password and salt.
func kdf12(h func() hash.Hash, password, salt []byte, iterations, id, n int) []byte {
	hh := h()
	u, v := hh.Size(), hh.BlockSize()
	fill := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		out := make([]byte, v*((len(b)+v-1)/v))
		for i := range out {
			out[i] = b[i%len(b)]
		}
		return out
	}
	d := bytes.Repeat([]byte{byte(id)}, v)
	in := append(fill(salt), fill(password)...)
	out := make([]byte, 0, n+u)
	for {
		hh.Reset()
		hh.Write(d)
		hh.Write(in)
		a := hh.Sum(nil)
		for range iterations - 1 {
			hh.Reset()
			hh.Write(a)
			a = hh.Sum(a[:0])
		}
		if out = append(out, a...); len(out) >= n {
			return out[:n]
		}
		b := make([]byte, v)
		for i := range b {
			b[i] = a[i%u]
		}
		// Each v-byte block of in becomes (block + b + 1) mod 2^(8v).
		for k := 0; k < len(in); k += v {
			carry := 1
			for x := v - 1; x >= 0; x-- {
				s := int(in[k+x]) + int(b[x]) + carry
				in[k+x], carry = byte(s), s>>8
			}
		}
	}
}
