package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"

	"github.com/carespine/spineauth/testkeys"
)

func TestChooseAuth(t *testing.T) {
	alice := testkeys.Cert(t, "card-555000000011-ec") // digitalSignature
	wrongKU := testkeys.Cert(t, "card-wrongku")       // keyEncipherment only
	root := testkeys.Cert(t, "root")                  // a CA, never with a key on a card
	bob := testkeys.Cert(t, "card-555000000012-rsa")  // digitalSignature
	co := func(id byte, der []byte) certObject { return certObject{id: []byte{id}, der: der} }
	key := func(id byte, always bool) keyObject {
		return keyObject{handle: uint(id) + 100, id: []byte{id}, kind: keyEC, alwaysAuth: always}
	}
	tests := []struct {
		name       string
		certs      []certObject
		privs      []keyObject
		pubs       []keyObject
		want       []byte // the chosen certificate's DER; nil: ErrNoCertificate
		wantHandle uint   // 0: no private key in the choice
	}{
		{"one pair", []certObject{co(1, alice.Raw)}, []keyObject{key(1, false)}, nil, alice.Raw, 101},
		{"key with another ID", []certObject{co(1, alice.Raw)}, []keyObject{key(2, false)}, nil, nil, 0},
		{"empty IDs never match", []certObject{{der: alice.Raw}}, []keyObject{{handle: 7, kind: keyEC}}, nil, nil, 0},
		{"digitalSignature preferred", []certObject{co(1, wrongKU.Raw), co(2, alice.Raw)},
			[]keyObject{key(1, false), key(2, false)}, nil, alice.Raw, 102},
		{"a key for every use preferred", []certObject{co(1, alice.Raw), co(2, bob.Raw)},
			[]keyObject{key(1, true), key(2, false)}, nil, bob.Raw, 102},
		{"first of equals", []certObject{co(2, bob.Raw), co(1, alice.Raw)},
			[]keyObject{key(1, false), key(2, false)}, nil, bob.Raw, 102},
		{"certificate without key skipped", []certObject{co(9, root.Raw), co(1, wrongKU.Raw)},
			[]keyObject{key(1, false)}, nil, wrongKU.Raw, 101},
		{"public key before login", []certObject{co(9, root.Raw), co(1, alice.Raw)},
			nil, []keyObject{key(1, false)}, alice.Raw, 0},
		{"private keys win over public", []certObject{co(1, alice.Raw), co(2, bob.Raw)},
			[]keyObject{key(2, false)}, []keyObject{key(1, false)}, bob.Raw, 102},
		{"unparseable skipped", []certObject{co(1, []byte("junk")), co(2, alice.Raw)},
			[]keyObject{key(1, false), key(2, false)}, nil, alice.Raw, 102},
		{"nothing", nil, nil, nil, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chooseAuth(tc.certs, tc.privs, tc.pubs)
			if tc.want == nil {
				if !errors.Is(err, ErrNoCertificate) {
					t.Fatalf("chooseAuth: %v, want ErrNoCertificate", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("chooseAuth: %v", err)
			}
			if string(got.cert.Raw) != string(tc.want) {
				t.Errorf("chose %v", got.cert.Subject)
			}
			var handle uint
			if got.key != nil {
				handle = got.key.handle
			}
			if handle != tc.wantHandle {
				t.Errorf("key handle %d, want %d", handle, tc.wantHandle)
			}
		})
	}
}

func TestCheckKey(t *testing.T) {
	rsaCert := testkeys.Cert(t, "card-555000000011-rsa")
	ecCert := testkeys.Cert(t, "card-555000000011-ec")
	n := rsaCert.PublicKey.(*rsa.PublicKey).N.Bytes()
	other := append([]byte{}, n...)
	other[len(other)-1] ^= 1
	if err := checkKey(rsaCert.PublicKey, keyObject{kind: keyRSA, modulus: append([]byte{0}, n...)}); err != nil {
		t.Errorf("matching RSA key: %v", err)
	}
	if err := checkKey(rsaCert.PublicKey, keyObject{kind: keyRSA}); err != nil {
		t.Errorf("RSA key with a hidden modulus: %v", err)
	}
	if err := checkKey(rsaCert.PublicKey, keyObject{kind: keyRSA, modulus: other}); !errors.Is(err, ErrNoKey) {
		t.Errorf("RSA key with another modulus: %v", err)
	}
	if err := checkKey(rsaCert.PublicKey, keyObject{kind: keyEC}); !errors.Is(err, ErrNoKey) {
		t.Errorf("EC key for an RSA certificate: %v", err)
	}
	if err := checkKey(ecCert.PublicKey, keyObject{kind: keyEC}); err != nil {
		t.Errorf("EC key: %v", err)
	}
}

// The DigestInfo prefixes are the DER encoding of RFC 8017's DigestInfo.
func TestDigestInfoPrefix(t *testing.T) {
	oids := map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
		crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
		crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
	}
	for h, oid := range oids {
		digest := make([]byte, h.Size())
		want, err := asn1.Marshal(struct {
			Alg    pkix.AlgorithmIdentifier
			Digest []byte
		}{pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: asn1.NullRawValue}, digest})
		if err != nil {
			t.Fatal(err)
		}
		prefix, err := digestInfoPrefix(h)
		if err != nil {
			t.Fatal(err)
		}
		if got := append(prefix, digest...); string(got) != string(want) {
			t.Errorf("%v: prefix %x, want %x", h, prefix, want[:len(want)-h.Size()])
		}
	}
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.MD5, crypto.SHA224, 0} {
		if _, err := digestInfoPrefix(h); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%v: %v, want ErrUnsupported", h, err)
		}
	}
}

func TestPreparePSSSalt(t *testing.T) {
	pub := testkeys.Cert(t, "card-555000000011-rsa").PublicKey.(*rsa.PublicKey) // 2048 bits
	tests := []struct {
		salt, want int
	}{
		{rsa.PSSSaltLengthEqualsHash, 32},
		{rsa.PSSSaltLengthAuto, 256 - 32 - 2},
		{20, 20},
		{222, 222},
		{223, -1},
		{-3, -1},
	}
	for _, tc := range tests {
		m, _, err := prepare(pub, make([]byte, 32), &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: tc.salt})
		switch {
		case tc.want < 0 && !errors.Is(err, ErrUnsupported):
			t.Errorf("salt %d: %v, want ErrUnsupported", tc.salt, err)
		case tc.want >= 0 && (err != nil || m.kind != mechRSAPSS || m.saltLen != tc.want || m.hash != crypto.SHA256):
			t.Errorf("salt %d: %+v, %v; want salt %d", tc.salt, m, err, tc.want)
		}
	}
}

func TestPrepareECDSATruncates(t *testing.T) {
	pub := testkeys.Cert(t, "card-555000000011-ec").PublicKey.(*ecdsa.PublicKey) // P-256
	digest := make([]byte, 48)
	for i := range digest {
		digest[i] = byte(i)
	}
	m, data, err := prepare(pub, digest, crypto.SHA384)
	if err != nil || m.kind != mechECDSA || string(data) != string(digest[:32]) {
		t.Errorf("prepare: %+v %x %v", m, data, err)
	}
}

func TestECDSADER(t *testing.T) {
	raw := make([]byte, 64)
	raw[0], raw[31], raw[32], raw[63] = 0x80, 1, 0x00, 2 // r with the top bit set, s with leading zeros
	der, err := ecdsaDER(raw)
	if err != nil {
		t.Fatal(err)
	}
	var sig struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &sig); err != nil || len(rest) != 0 {
		t.Fatalf("not DER: %v", err)
	}
	if sig.R.Cmp(new(big.Int).SetBytes(raw[:32])) != 0 || sig.S.Cmp(new(big.Int).SetBytes(raw[32:])) != 0 {
		t.Errorf("r, s = %x, %x", sig.R, sig.S)
	}
	for _, bad := range [][]byte{nil, make([]byte, 63), make([]byte, 64)} {
		if _, err := ecdsaDER(bad); !errors.Is(err, ErrTokenFailure) {
			t.Errorf("ecdsaDER(%d bytes): %v", len(bad), err)
		}
	}
}
