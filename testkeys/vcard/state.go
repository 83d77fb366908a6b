package vcard

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Secret is reference data (a PIN, PUK or management key). It never
// prints; compare it only with Equal.
type Secret []byte

func (Secret) String() string   { return "[redacted]" }
func (Secret) GoString() string { return "[redacted]" }

// MaxTries is how many wrong PINs (or PUKs) lock the card.
const MaxTries = 3

// Management key algorithms (SP 800-78-4 table 6-2).
const (
	Alg3DES    byte = 0x03
	AlgAES128  byte = 0x08
	AlgRSA2048 byte = 0x07
	AlgECCP256 byte = 0x11
	AlgECCP384 byte = 0x14
)

// DefaultManagementKey is the well-known 3DES test management key
// (01 02 .. 08 three times). Every PIV test tool knows it; a card that
// leaves a test bench must not keep it.
var DefaultManagementKey = Secret{1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8}

// State is everything the card remembers across power cycles and
// restarts. It is saved as JSON (mode 0600) after every change.
type State struct {
	Version  int    `json:"version"`
	GUID     []byte `json:"guid"` // 16 bytes, in the CHUID; OpenSC's serial number
	PIN      Secret `json:"pin"`  // 6-8 ASCII digits
	PUK      Secret `json:"puk"`  // 6-8 bytes
	PINTries int    `json:"pin_tries"`
	PUKTries int    `json:"puk_tries"`
	MgmtAlg  byte   `json:"mgmt_alg"` // Alg3DES or AlgAES128
	MgmtKey  Secret `json:"mgmt_key"`
	// Keys maps a key reference ("9a", "9c", "9d", "9e") to its PKCS#8 key.
	Keys map[string]Secret `json:"keys"`
	// Objects maps a data object tag in hex ("5fc105") to the value of its
	// 53 container as GET DATA returns it.
	Objects map[string][]byte `json:"objects"`
}

// Slots are the key references a card holds keys in, with the data object
// that holds each one's certificate.
var slotObjects = map[byte]uint32{0x9A: 0x5FC105, 0x9C: 0x5FC10A, 0x9D: 0x5FC10B, 0x9E: 0x5FC101}

func slotName(ref byte) string { return fmt.Sprintf("%02x", ref) }

// writableObjects are the SP 800-73-4 data objects PUT DATA may write.
func writableObject(tag uint32) bool {
	switch {
	case tag >= 0x5FC101 && tag <= 0x5FC123 && tag != 0x5FC104:
		return true
	case tag == 0x7F61:
		return true
	}
	return false
}

// NewState makes the state of a freshly personalised card: a random GUID,
// the given PIN and PUK with full tries, the default 3DES management key, a
// CHUID, a CCC and an empty key history.
func NewState(random io.Reader, pin, puk Secret) (*State, error) {
	if random == nil {
		random = rand.Reader
	}
	st := &State{Version: 1, GUID: make([]byte, 16), PINTries: MaxTries, PUKTries: MaxTries,
		MgmtAlg: Alg3DES, MgmtKey: slices.Clone(DefaultManagementKey),
		Keys: map[string]Secret{}, Objects: map[string][]byte{}}
	if _, err := io.ReadFull(random, st.GUID); err != nil {
		return nil, fmt.Errorf("vcard: random GUID: %w", err)
	}
	if err := checkPIN(pin); err != nil {
		return nil, err
	}
	if err := checkPUK(puk); err != nil {
		return nil, err
	}
	st.PIN, st.PUK = slices.Clone(pin), slices.Clone(puk)
	cardID := make([]byte, 21)
	copy(cardID, []byte{0xA0, 0x00, 0x00, 0x01, 0x16, 0xFF, 0x02})
	copy(cardID[7:], st.GUID[:14])
	st.Objects["5fc102"] = tlvs(
		tlv{0x30, testFASCN},
		tlv{0x34, st.GUID},
		tlv{0x35, []byte("20441231")},
		tlv{0x3E, nil},
		tlv{0xFE, nil})
	st.Objects["5fc107"] = tlvs(
		tlv{0xF0, cardID}, tlv{0xF1, []byte{0x21}}, tlv{0xF2, []byte{0x21}},
		tlv{0xF3, nil}, tlv{0xF4, []byte{0x00}}, tlv{0xF5, []byte{0x10}},
		tlv{0xF6, nil}, tlv{0xF7, nil}, tlv{0xFA, nil}, tlv{0xFB, nil},
		tlv{0xFC, nil}, tlv{0xFD, nil}, tlv{0xFE, nil})
	st.Objects["5fc10c"] = tlvs(tlv{0xC1, []byte{0}}, tlv{0xC2, []byte{0}}, tlv{0xFE, nil})
	return st, nil
}

// testFASCN is the FASC-N of agency code 9999 ("test"), all-9 system and
// credential numbers, as SP 800-73-4 test cards carry it.
var testFASCN = []byte{0xD4, 0xE7, 0x39, 0xDA, 0x73, 0x9C, 0xED, 0x39, 0xCE, 0x73, 0x9D, 0x83, 0x68,
	0x58, 0x21, 0x08, 0x42, 0x10, 0x84, 0x21, 0xC8, 0x42, 0x10, 0xC3, 0xEB}

// SetKeyAndCert puts key into slot ref (0x9A, 0x9C, 0x9D, 0x9E) and cert,
// which must hold key's public key, into the slot's certificate object.
func (st *State) SetKeyAndCert(ref byte, key crypto.Signer, cert *x509.Certificate) error {
	obj, ok := slotObjects[ref]
	if !ok {
		return fmt.Errorf("vcard: key reference %02X is not 9A, 9C, 9D or 9E", ref)
	}
	if _, err := algOf(key); err != nil {
		return err
	}
	if cert != nil {
		pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(key.Public()) {
			return errors.New("vcard: the certificate does not hold the key's public key")
		}
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("vcard: %w", err)
	}
	st.Keys[slotName(ref)] = der
	if cert != nil {
		st.Objects[fmt.Sprintf("%06x", obj)] = certObject(cert.Raw)
	}
	return nil
}

// certObject is the value of a certificate data object: the certificate,
// CertInfo 0 (not compressed) and an empty error detection code.
func certObject(der []byte) []byte {
	return tlvs(tlv{0x70, der}, tlv{0x71, []byte{0}}, tlv{0xFE, nil})
}

// algOf is the PIV algorithm identifier of a key this card can hold.
func algOf(key crypto.Signer) (byte, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() == 2048 {
			return AlgRSA2048, nil
		}
		return 0, fmt.Errorf("vcard: RSA key of %d bits (only 2048)", k.N.BitLen())
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return AlgECCP256, nil
		case elliptic.P384():
			return AlgECCP384, nil
		}
		return 0, fmt.Errorf("vcard: EC curve %s (only P-256, P-384)", k.Curve.Params().Name)
	}
	return 0, fmt.Errorf("vcard: key type %T (only RSA-2048, ECDSA P-256/P-384)", key)
}

func checkPIN(p Secret) error {
	if len(p) < 6 || len(p) > 8 {
		return errors.New("vcard: the PIN must have 6 to 8 digits")
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return errors.New("vcard: the PIN must have 6 to 8 digits")
		}
	}
	return nil
}

func checkPUK(p Secret) error {
	if len(p) < 6 || len(p) > 8 || bytes.IndexByte(p, 0xFF) >= 0 {
		return errors.New("vcard: the PUK must have 6 to 8 bytes (no FF)")
	}
	return nil
}

func mgmtKeyLen(alg byte) int {
	switch alg {
	case Alg3DES:
		return 24
	case AlgAES128:
		return 16
	}
	return 0
}

// Validate reports every problem with the state at once.
func (st *State) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if st.Version != 1 {
		add("version %d (want 1)", st.Version)
	}
	if len(st.GUID) != 16 {
		add("guid: %d bytes (want 16)", len(st.GUID))
	}
	if err := checkPIN(st.PIN); err != nil {
		add("pin: %v", err)
	}
	if err := checkPUK(st.PUK); err != nil {
		add("puk: %v", err)
	}
	if st.PINTries < 0 || st.PINTries > MaxTries {
		add("pin_tries %d out of 0..%d", st.PINTries, MaxTries)
	}
	if st.PUKTries < 0 || st.PUKTries > MaxTries {
		add("puk_tries %d out of 0..%d", st.PUKTries, MaxTries)
	}
	if n := mgmtKeyLen(st.MgmtAlg); n == 0 {
		add("mgmt_alg %02X (want 03 for 3DES or 08 for AES-128)", st.MgmtAlg)
	} else if len(st.MgmtKey) != n {
		add("mgmt_key: %d bytes (want %d)", len(st.MgmtKey), n)
	}
	for name, der := range st.Keys {
		ref, err := hex.DecodeString(name)
		if _, ok := slotObjects[firstByte(ref)]; err != nil || len(ref) != 1 || !ok {
			add("keys: %q is not a key reference (9a, 9c, 9d, 9e)", name)
			continue
		}
		if _, err := parseKey(der); err != nil {
			add("keys[%s]: %v", name, err)
		}
	}
	for name, v := range st.Objects {
		tag, err := hex.DecodeString(name)
		if err != nil || len(tag) < 2 || len(tag) > 3 || !writableObject(tagOf(tag)) {
			add("objects: %q is not a PIV data object tag", name)
			continue
		}
		if _, err := parseTLVs(v); err != nil {
			add("objects[%s]: %v", name, err)
		}
		if len(v) > maxChain {
			add("objects[%s]: %d bytes (at most %d)", name, len(v), maxChain)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("vcard: invalid state: %w", errors.Join(errs...))
	}
	return nil
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func tagOf(b []byte) uint32 {
	var t uint32
	for _, x := range b {
		t = t<<8 | uint32(x)
	}
	return t
}

func parseKey(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key type %T", k)
	}
	if _, err := algOf(s); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadState reads and validates a state file. Unknown fields are errors.
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vcard: read state: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var st State
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("vcard: state %s: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("vcard: state %s: trailing data", path)
	}
	if st.Keys == nil {
		st.Keys = map[string]Secret{}
	}
	if st.Objects == nil {
		st.Objects = map[string][]byte{}
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return &st, nil
}

// Save writes the state to path atomically (a temporary file in the same
// directory, synced, then renamed over path) with mode 0600.
func (st *State) Save(path string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("vcard: encode state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("vcard: save state: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("vcard: save state: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("vcard: save state: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("vcard: save state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("vcard: save state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("vcard: save state: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// clone deep-copies the state (so a failed save can be rolled back).
func (st *State) clone() *State {
	c := *st
	c.GUID = slices.Clone(st.GUID)
	c.PIN, c.PUK, c.MgmtKey = slices.Clone(st.PIN), slices.Clone(st.PUK), slices.Clone(st.MgmtKey)
	c.Keys = make(map[string]Secret, len(st.Keys))
	for k, v := range st.Keys {
		c.Keys[k] = slices.Clone(v)
	}
	c.Objects = make(map[string][]byte, len(st.Objects))
	for k, v := range st.Objects {
		c.Objects[k] = slices.Clone(v)
	}
	return &c
}

// ParseSecretHex parses a management key written as hex, with or without
// colons or spaces between bytes (as OpenSC's PIV_EXT_AUTH_KEY file).
func ParseSecretHex(s string) (Secret, error) {
	s = strings.NewReplacer(":", "", " ", "", "\n", "", "\r", "", "\t", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, errors.New("vcard: management key is not hex")
	}
	return Secret(b), nil
}
