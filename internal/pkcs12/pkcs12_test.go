package pkcs12

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The files in testdata were written by OpenSSL 3.0 (see testdata/README):
// one key, key.pem, in every shape the tools produce.

func readPEM(t *testing.T, name string) *pem.Block {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM", name)
	}
	return b
}

func wantKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := x509.ParsePKCS8PrivateKey(readPEM(t, "key.pem").Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

func TestDecode(t *testing.T) {
	key := wantKey(t)
	cert := readPEM(t, "cert.pem").Bytes
	leaf := readPEM(t, "leaf.pem").Bytes
	ca := readPEM(t, "ca.pem").Bytes
	for _, tc := range []struct {
		file, password string
		certs          [][]byte
	}{
		{"modern.pfx", "pfx-password", [][]byte{cert}},    // OpenSSL 3 default: PBES2 AES-256, HMAC-SHA256
		{"legacy.pfx", "pfx-password", [][]byte{cert}},    // -legacy: RC2-40 certificates, 3DES key, HMAC-SHA1
		{"rc2-128.pfx", "pfx-password", [][]byte{cert}},   // RC2-128 certificates, 2-key 3DES key
		{"mixed.pfx", "pfx-password", [][]byte{cert}},     // PBES2 AES-128 and 3DES, HMAC-SHA512
		{"empty-password.pfx", "", [][]byte{cert}},        // Key Vault downloads have no password
		{"unencrypted.pfx", "", [][]byte{cert}},           // -keypbe NONE -certpbe NONE
		{"unicode.pfx", "pässwörd", [][]byte{cert}},       // UTF-8 for PBKDF2, UTF-16 for the MAC
		{"chain.pfx", "pfx-password", [][]byte{leaf, ca}}, // a leaf and its issuer
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			k, certs, err := Decode(data, tc.password)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !key.Equal(k) {
				t.Error("decoded a different key")
			}
			if len(certs) != len(tc.certs) {
				t.Fatalf("%d certificates, want %d", len(certs), len(tc.certs))
			}
			for i, c := range certs {
				if !bytes.Equal(c.Raw, tc.certs[i]) {
					t.Errorf("certificate %d is not the one exported", i)
				}
			}
			if _, _, err := Decode(data, tc.password+"x"); !errors.Is(err, ErrIncorrectPassword) {
				t.Errorf("wrong password: %v, want ErrIncorrectPassword", err)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	modern, err := os.ReadFile(filepath.Join("testdata", "modern.pfx"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(modern)
	flipped[len(flipped)/2] ^= 1
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"PEM", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")},
		{"truncated", modern[:len(modern)-10]},
		{"trailing bytes", append(bytes.Clone(modern), 0)},
		{"damaged", flipped},
		{"too large", make([]byte, maxInput+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Decode(tc.data, "pfx-password"); err == nil {
				t.Fatal("Decode accepted it")
			}
		})
	}
}

// TestIterationsBounded: a file chooses its own iteration counts, and a few
// bytes more ask for minutes of CPU, so each count is refused before anything
// is derived with it. Each case is first built with the count the file had,
// which works, then with one over the limit. (Without the bound these would
// end, a second or so later, in ErrIncorrectPassword or a key.)
func TestIterationsBounded(t *testing.T) {
	marshal := func(v any) []byte {
		t.Helper()
		der, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	for _, tc := range []struct {
		name string
		n    int // the count the file has
		try  func(n int) error
	}{
		{"MAC of modern.pfx", 2048, func(n int) error {
			data, err := os.ReadFile(filepath.Join("testdata", "modern.pfx"))
			if err != nil {
				t.Fatal(err)
			}
			var pdu pfxPDU
			if err := unmarshal(data, &pdu); err != nil {
				t.Fatal(err)
			}
			pdu.MacData.Iterations = n
			_, _, err = Decode(marshal(pdu), "pfx-password")
			return err
		}},
		{"PBKDF2 of key-encrypted.pem", 2048, func(n int) error {
			var info encryptedPrivateKeyInfo
			var p2 pbes2Params
			var kp pbkdf2Params
			if unmarshal(readPEM(t, "key-encrypted.pem").Bytes, &info) != nil ||
				unmarshal(info.Algorithm.Parameters.FullBytes, &p2) != nil ||
				unmarshal(p2.KeyDerivationFunc.Parameters.FullBytes, &kp) != nil {
				t.Fatal("testdata: not PBES2")
			}
			kp.Iterations = n
			p2.KeyDerivationFunc.Parameters = asn1.RawValue{FullBytes: marshal(kp)}
			info.Algorithm.Parameters = asn1.RawValue{FullBytes: marshal(p2)}
			_, err := DecryptPKCS8(marshal(info), "pem-password")
			return err
		}},
		{"PKCS#12 key derivation of 3DES", 2048, func(n int) error {
			pw := &password2{utf8: []byte("x"), bmp: bmpString("x"), maxIter: maxIterations}
			_, _, err := pw.cipher(pkix.AlgorithmIdentifier{
				Algorithm:  oidPBEWithSHA3KeyDES,
				Parameters: asn1.RawValue{FullBytes: marshal(pbeParams{Salt: []byte("saltsalt"), Iterations: n})},
			})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.try(tc.n); err != nil {
				t.Fatalf("%d iterations: %v", tc.n, err)
			}
			if err := tc.try(maxIterations + 1); !errors.Is(err, errTooManyIterations) {
				t.Fatalf("%d iterations: %v, want errTooManyIterations", maxIterations+1, err)
			}
		})
	}
}

func TestDecryptPKCS8(t *testing.T) {
	b := readPEM(t, "key-encrypted.pem")
	if b.Type != "ENCRYPTED PRIVATE KEY" {
		t.Fatalf("testdata: %s", b.Type)
	}
	k, err := DecryptPKCS8(b.Bytes, "pem-password")
	if err != nil {
		t.Fatal(err)
	}
	if !wantKey(t).Equal(k) {
		t.Error("decrypted a different key")
	}
	if _, err := DecryptPKCS8(b.Bytes, "pfx-password"); !errors.Is(err, ErrIncorrectPassword) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := DecryptPKCS8(b.Bytes[:20], "pem-password"); err == nil {
		t.Error("accepted a truncated key")
	}
}

// TestRC2 checks the cipher against the test vectors of RFC 2268 section 5.
func TestRC2(t *testing.T) {
	for _, tc := range []struct {
		key  string
		bits int
		pt   string
		ct   string
	}{
		{"0000000000000000", 63, "0000000000000000", "ebb773f993278eff"},
		{"ffffffffffffffff", 64, "ffffffffffffffff", "278b27e42e2f0d49"},
		{"3000000000000000", 64, "1000000000000001", "30649edf9be7d2c2"},
		{"88", 64, "0000000000000000", "61a8a244adacccf0"},
		{"88bca90e90875a", 64, "0000000000000000", "6ccf4308974c267f"},
		{"88bca90e90875a7f0f79c384627bafb2", 64, "0000000000000000", "1a807d272bbe5db1"},
		{"88bca90e90875a7f0f79c384627bafb2", 128, "0000000000000000", "2269552ab0f85ca6"},
	} {
		key, _ := hex.DecodeString(tc.key)
		ct, _ := hex.DecodeString(tc.ct)
		got := make([]byte, 8)
		newRC2(key, tc.bits).Decrypt(got, ct)
		if hex.EncodeToString(got) != tc.pt {
			t.Errorf("key %s/%d: decrypt(%s) = %x, want %s", tc.key, tc.bits, tc.ct, got, tc.pt)
		}
	}
}

// TestKDF12 checks the PKCS#12 key derivation against the vectors that
// OpenSSL and other implementations share (password "smeg", SHA-1).
func TestKDF12(t *testing.T) {
	salt, _ := hex.DecodeString("0a58cf64530d823f")
	for _, tc := range []struct {
		id, n int
		want  string
	}{
		{1, 24, "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3"},
		{2, 8, "79993dfe048d3b76"},
	} {
		got := kdf12(sha1.New, bmpString("smeg"), salt, 1, tc.id, tc.n)
		if hex.EncodeToString(got) != tc.want {
			t.Errorf("id %d: %x, want %s", tc.id, got, tc.want)
		}
	}
}

// FuzzDecode feeds damaged PKCS#12 files and PKCS#8 keys. The seeds were
// written with one iteration (openssl -noiter -nomaciter) and the bound is
// low, so that each run is short and the fuzzer gets past the MAC.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"fuzz-modern.pfx", "fuzz-legacy.pfx", "fuzz-plain.pfx"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "pfx-password")
	}
	f.Add(readPEMBytes(f, "key-encrypted.pem"), "pem-password")
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03}, "")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		const maxIter = 16
		k, certs, err := decode(data, password, maxIter)
		if err == nil && (k == nil || len(certs) == 0) {
			t.Fatal("success without a key and a certificate")
		}
		_, _ = (&password2{utf8: []byte(password), bmp: bmpString(password), maxIter: maxIter}).decryptKey(data)
	})
}

func readPEMBytes(tb testing.TB, name string) []byte {
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		tb.Fatalf("%s: no PEM", name)
	}
	return b.Bytes
}
