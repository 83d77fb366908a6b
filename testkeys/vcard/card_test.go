package vcard_test

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/carespine/spineauth/testkeys"
	"github.com/carespine/spineauth/testkeys/vcard"
)

// h decodes hex written with spaces.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// tx sends one APDU and splits the answer into data and status word.
func tx(t *testing.T, c *vcard.Card, apdu []byte) ([]byte, uint16) {
	t.Helper()
	r := c.Transmit(apdu)
	if len(r) < 2 {
		t.Fatalf("response of %d bytes to %X", len(r), apdu)
	}
	return r[:len(r)-2], uint16(r[len(r)-2])<<8 | uint16(r[len(r)-1])
}

// want sends an APDU and requires the status word.
func want(t *testing.T, c *vcard.Card, apdu []byte, sw uint16) []byte {
	t.Helper()
	data, got := tx(t, c, apdu)
	if got != sw {
		t.Fatalf("APDU %X: SW %04X, want %04X", apdu, got, sw)
	}
	return data
}

// call sends cmd (chaining its data in 255-byte parts) and collects the
// whole answer through GET RESPONSE, as OpenSC does.
func call(t *testing.T, c *vcard.Card, cmd vcard.Command) ([]byte, uint16) {
	t.Helper()
	data := cmd.Data
	for len(data) > 255 {
		part := cmd
		part.CLA |= 0x10
		part.Data, part.Ne = data[:255], 0
		if _, sw := tx(t, c, part.Bytes()); sw != 0x9000 {
			return nil, sw
		}
		data = data[255:]
	}
	cmd.Data = data
	if cmd.Ne == 0 {
		cmd.Ne = 256
	}
	out, sw := tx(t, c, cmd.Bytes())
	for sw&0xFF00 == 0x6100 {
		var more []byte
		more, sw = tx(t, c, vcard.Command{INS: 0xC0, Ne: 256}.Bytes())
		out = append(out, more...)
	}
	return out, sw
}

var selectPIV = h("00 A4 04 00 09 A0 00 00 03 08 00 00 10 00 00")

func pinBlock(pin string) []byte {
	b := bytes.Repeat([]byte{0xFF}, 8)
	copy(b, pin)
	return b
}

func verifyAPDU(pin string) []byte {
	return append(h("00 20 00 80 08"), pinBlock(pin)...)
}

// memCard is an in-memory card with Alice's fixture in 9A (RSA or EC).
func memCard(t *testing.T, fixture string) *vcard.Card {
	t.Helper()
	st, err := vcard.NewState(nil, vcard.Secret("123456"), vcard.Secret("12345678"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetKeyAndCert(0x9A, testkeys.Key(t, fixture), testkeys.Cert(t, fixture)); err != nil {
		t.Fatal(err)
	}
	c, err := vcard.New(st, vcard.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	want(t, c, selectPIV, 0x9000)
	return c
}

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		name, apdu string
		ok         bool
		lc, ne     int
		ext        bool
	}{
		{"case 1", "00 A4 04 00", true, 0, 0, false},
		{"case 2 short", "00 C0 00 00 10", true, 0, 16, false},
		{"case 2 short Le 256", "00 C0 00 00 00", true, 0, 256, false},
		{"case 3 short", "00 20 00 80 02 31 32", true, 2, 0, false},
		{"case 4 short", "00 CB 3F FF 03 5C 01 7E 00", true, 3, 256, false},
		{"case 2 extended", "00 CB 3F FF 00 01 00", true, 0, 256, true},
		{"case 2 extended Le 65536", "00 CB 3F FF 00 00 00", true, 0, 65536, true},
		{"case 3 extended", "00 DB 3F FF 00 00 02 5C 00", true, 2, 0, true},
		{"case 4 extended", "00 CB 3F FF 00 00 03 5C 01 7E 00 00", true, 3, 65536, true},
		{"header only 3 bytes", "00 A4 04", false, 0, 0, false},
		{"empty", "", false, 0, 0, false},
		{"short Lc too long", "00 20 00 80 05 31 32", false, 0, 0, false},
		{"short Lc too short", "00 20 00 80 01 31 32 33", false, 0, 0, false},
		{"extended truncated", "00 CB 3F FF 00 01", false, 0, 0, false},
		{"extended Lc 0", "00 CB 3F FF 00 00 00 00", false, 0, 0, false},
		{"extended Lc mismatch", "00 CB 3F FF 00 00 05 5C 01 7E", false, 0, 0, false},
		{"extended with one-byte Le", "00 CB 3F FF 00 00 03 5C 01 7E 00", false, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := h(tc.apdu)
			cmd, err := vcard.ParseCommand(b)
			if !tc.ok {
				var se *vcard.StatusError
				if err == nil || !errorsAs(err, &se) || se.SW != 0x6700 {
					t.Fatalf("ParseCommand(%X) = %+v, %v; want SW 6700", b, cmd, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCommand(%X): %v", b, err)
			}
			if len(cmd.Data) != tc.lc || cmd.Ne != tc.ne || cmd.Extended != tc.ext {
				t.Fatalf("got Lc %d Ne %d ext %v, want %d %d %v", len(cmd.Data), cmd.Ne, cmd.Extended, tc.lc, tc.ne, tc.ext)
			}
			if got := cmd.Bytes(); !bytes.Equal(got, b) {
				t.Fatalf("Bytes() = %X, want %X", got, b)
			}
		})
	}
}

func TestMalformedAPDUsGetStatusWords(t *testing.T) {
	c := memCard(t, testkeys.Users[0].CardRSA())
	for _, tc := range []struct {
		name string
		apdu string
		sw   uint16
	}{
		{"too short", "00 CB", 0x6700},
		{"bad length", "00 CB 3F FF 05 5C", 0x6700},
		{"class", "80 CB 3F FF 03 5C 01 7E 00", 0x6E00},
		{"secure messaging class", "0C CB 3F FF 03 5C 01 7E 00", 0x6E00},
		{"instruction", "00 B0 00 00 00", 0x6D00},
		{"GET DATA P1P2", "00 CB 00 00 03 5C 01 7E 00", 0x6A86},
		{"GET DATA not 5C", "00 CB 3F FF 03 5D 01 7E 00", 0x6A80},
		{"GET DATA bad TLV", "00 CB 3F FF 03 5C 05 7E 00", 0x6A80},
		{"GET DATA two tags", "00 CB 3F FF 06 5C 01 7E 5C 01 7E 00", 0x6A80},
		{"GET DATA unknown object", "00 CB 3F FF 05 5C 03 5F C1 FF 00", 0x6A82},
		{"GET DATA absent 9C cert", "00 CB 3F FF 05 5C 03 5F C1 0A 00", 0x6A82},
		{"VERIFY key reference", "00 20 00 81 00", 0x6A88},
		{"VERIFY P1", "00 20 01 80 00", 0x6A86},
		{"VERIFY PIN not 8 bytes", "00 20 00 80 06 31 32 33 34 35 36", 0x6A80},
		{"VERIFY PIN not digits", "00 20 00 80 08 41 42 43 44 45 46 FF FF", 0x6A80},
		{"VERIFY short PIN", "00 20 00 80 08 31 32 33 FF FF FF FF FF", 0x6A80},
		{"VERIFY padding in the middle", "00 20 00 80 08 31 32 33 34 35 36 FF 37", 0x6A80},
		{"CHANGE wrong length", "00 24 00 80 08 31 32 33 34 35 36 FF FF", 0x6700},
		{"RESET wrong reference", "00 2C 00 81 10 31 32 33 34 35 36 37 38 31 32 33 34 35 36 FF FF", 0x6A86},
		{"GA not 7C", "00 87 07 9A 04 7D 02 82 00 00", 0x6A80},
		{"GA truncated template", "00 87 07 9A 04 7C 05 82 00 00", 0x6A80},
		{"GA key reference", "00 87 07 9F 04 7C 02 82 00 00", 0x6A86},
		{"GA absent key", "00 87 11 9C 04 7C 02 82 00 00", 0x6A88},
		{"GA wrong algorithm", "00 87 11 9A 04 7C 02 82 00 00", 0x6A86},
		{"GA without PIN", "00 87 07 9A 06 7C 04 82 00 81 00 00", 0x6982},
		{"GA management algorithm", "00 87 08 9B 04 7C 02 80 00 00", 0x6A86},
		{"GA management out of sequence", "00 87 03 9B 0C 7C 0A 82 08 00 00 00 00 00 00 00 00 00", 0x6A80},
		{"GENERATE without management key", "00 47 00 9A 05 AC 03 80 01 11 00", 0x6982},
		{"PUT DATA without management key", "00 DB 3F FF 07 5C 03 5F C1 05 53 00", 0x6982},
		{"GET RESPONSE with nothing waiting", "00 C0 00 00 00", 0x6985},
		{"chaining of GET DATA", "10 CB 3F FF 03 5C 01 7E", 0x6884},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want(t, c, h(tc.apdu), tc.sw)
		})
	}
}

func TestCommandsNeedSelect(t *testing.T) {
	st, err := vcard.NewState(nil, vcard.Secret("123456"), vcard.Secret("12345678"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := vcard.New(st, vcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want(t, c, h("00 CB 3F FF 03 5C 01 7E 00"), 0x6985)
	want(t, c, h("00 A4 04 00 05 A0 00 00 03 09 00"), 0x6A82) // another RID
	want(t, c, h("00 A4 04 00 04 A0 00 00 03 00"), 0x6A82)    // shorter than a RID
	// A right-truncated PIV AID (the RID, as OpenSC sends it) selects PIV.
	apt := want(t, c, h("00 A4 04 00 05 A0 00 00 03 08 00"), 0x9000)
	if !bytes.HasPrefix(apt, h("61")) || !bytes.Contains(apt, h("4F 06 00 00 10 00 01 00")) {
		t.Fatalf("application property template %X", apt)
	}
	disc := want(t, c, h("00 CB 3F FF 03 5C 01 7E 00"), 0x9000)
	if !bytes.Equal(disc, h("7E 12 4F 0B A0 00 00 03 08 00 00 10 00 01 00 5F 2F 02 40 00")) {
		t.Fatalf("discovery object %X", disc)
	}
	// Selecting another application fails and leaves PIV selected.
	want(t, c, h("00 A4 04 00 07 A0 00 00 00 79 01 00 00"), 0x6A82)
	want(t, c, h("00 CB 3F FF 03 5C 01 7E 00"), 0x9000)
	c.Reset() // power cycle forgets the selection
	want(t, c, h("00 CB 3F FF 03 5C 01 7E 00"), 0x6985)
}

func TestGetDataLongObjectThroughGetResponse(t *testing.T) {
	fixture := testkeys.Users[0].CardRSA()
	c := memCard(t, fixture)
	cert := testkeys.Cert(t, fixture)
	get := vcard.Command{INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: h("5C 03 5F C1 05"), Ne: 256}
	first, sw := tx(t, c, get.Bytes())
	if sw&0xFF00 != 0x6100 || len(first) != 256 {
		t.Fatalf("first part: %d bytes, SW %04X; want 256 and 61xx", len(first), sw)
	}
	obj, sw := call(t, c, get)
	if sw != 0x9000 || !bytes.Contains(obj, cert.Raw) || !bytes.HasPrefix(obj, h("53 82")) {
		t.Fatalf("certificate object (SW %04X) does not hold the certificate", sw)
	}
	if !bytes.HasSuffix(obj, h("71 01 00 FE 00")) {
		t.Fatalf("certificate object does not end with CertInfo and EDC: %X", obj[len(obj)-8:])
	}
	// Extended Le gets it in one answer.
	get.Extended, get.Ne = true, 65536
	whole := want(t, c, get.Bytes(), 0x9000)
	if !bytes.Equal(whole, obj) {
		t.Fatal("extended GET DATA differs from the chained answer")
	}
	// Le 8 (OpenSC asks for the length first) then the rest.
	get.Extended, get.Ne = false, 8
	head, sw := tx(t, c, get.Bytes())
	if len(head) != 8 || sw&0xFF00 != 0x6100 {
		t.Fatalf("Le 8: %d bytes SW %04X", len(head), sw)
	}
	// Any other command drops what was waiting.
	want(t, c, h("00 20 00 80 00"), 0x63C3)
	want(t, c, h("00 C0 00 00 00"), 0x6985)
	// CHUID carries the GUID.
	chuid, _ := call(t, c, vcard.Command{INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: h("5C 03 5F C1 02")})
	if !bytes.Contains(chuid, append(h("34 10"), c.Snapshot().GUID...)) {
		t.Fatalf("CHUID %X lacks the GUID", chuid)
	}
}

func errorsAs(err error, target **vcard.StatusError) bool {
	se, ok := err.(*vcard.StatusError)
	if ok {
		*target = se
	}
	return ok
}

func TestPINLockAndPUKSurviveRestart(t *testing.T) {
	c, path := newCard(t, testkeys.Users[0].CardEC())
	want(t, c, selectPIV, 0x9000)
	want(t, c, h("00 20 00 80 00"), 0x63C3)
	want(t, c, verifyAPDU("111111"), 0x63C2)
	want(t, c, verifyAPDU("123456"), 0x9000) // a right PIN restores the tries
	want(t, c, h("00 20 00 80 00"), 0x9000)
	want(t, c, h("00 20 FF 80"), 0x9000) // reset the security status
	want(t, c, h("00 20 00 80 00"), 0x63C3)
	want(t, c, verifyAPDU("111111"), 0x63C2)
	want(t, c, verifyAPDU("222222"), 0x63C1)
	want(t, c, verifyAPDU("333333"), 0x63C0)
	want(t, c, verifyAPDU("123456"), 0x6983) // blocked: even the right PIN fails
	want(t, c, h("00 20 00 80 00"), 0x6983)

	// The lock is in the state file: a restarted card is still blocked.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	c2, err := vcard.Open(path, vcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want(t, c2, selectPIV, 0x9000)
	want(t, c2, verifyAPDU("123456"), 0x6983)

	reset := func(puk, pin string) []byte {
		return append(append(h("00 2C 00 80 10"), pinBlock(puk)...), pinBlock(pin)...)
	}
	want(t, c2, reset("87654321", "654321"), 0x63C2)
	want(t, c2, reset("1234567", "654321"), 0x63C1)
	want(t, c2, reset("12345678", "12"), 0x6A80) // bad new PIN: no try spent
	want(t, c2, reset("12345678", "654321"), 0x9000)
	want(t, c2, verifyAPDU("123456"), 0x63C2)
	want(t, c2, verifyAPDU("654321"), 0x9000)
	if st := c2.Snapshot(); st.PINTries != 3 || st.PUKTries != 3 {
		t.Fatalf("tries after unblock: PIN %d PUK %d", st.PINTries, st.PUKTries)
	}
	// A PUK blocked by three wrong tries cannot unblock any more.
	for i, sw := range []uint16{0x63C2, 0x63C1, 0x63C0, 0x6983} {
		if _, got := tx(t, c2, reset("00000000", "111111")); got != sw {
			t.Fatalf("wrong PUK %d: SW %04X, want %04X", i+1, got, sw)
		}
	}
	want(t, c2, reset("12345678", "111111"), 0x6983)
}

func TestChangeReferenceData(t *testing.T) {
	c := memCard(t, testkeys.Users[0].CardEC())
	change := func(ref byte, old, next string) []byte {
		return append(append([]byte{0, 0x24, 0, ref, 0x10}, pinBlock(old)...), pinBlock(next)...)
	}
	want(t, c, change(0x80, "000000", "24681357"), 0x63C2)
	want(t, c, change(0x80, "123456", "2468"), 0x6A80)
	want(t, c, change(0x80, "123456", "24681357"), 0x9000)
	want(t, c, verifyAPDU("123456"), 0x63C2)
	want(t, c, verifyAPDU("24681357"), 0x9000)
	want(t, c, change(0x81, "12345678", "abcdefgh"), 0x9000) // a PUK need not be digits
	want(t, c, append(append(h("00 2C 00 80 10"), pinBlock("abcdefgh")...), pinBlock("777777")...), 0x9000)
	want(t, c, verifyAPDU("777777"), 0x9000)
}

func gaSign(alg, ref byte, challenge []byte) vcard.Command {
	in := append(h("82 00 81"), der(len(challenge))...)
	in = append(in, challenge...)
	tmpl := append(append([]byte{0x7C}, der(len(in))...), in...)
	return vcard.Command{INS: 0x87, P1: alg, P2: ref, Data: tmpl}
}

func der(n int) []byte {
	switch {
	case n < 0x80:
		return []byte{byte(n)}
	case n < 0x100:
		return []byte{0x81, byte(n)}
	}
	return []byte{0x82, byte(n >> 8), byte(n)}
}

// readTL reads one tag byte and a BER length from b.
func readTL(t *testing.T, b []byte, tag byte) []byte {
	t.Helper()
	if len(b) < 2 || b[0] != tag {
		t.Fatalf("want tag %02X in %X", tag, b)
	}
	n, rest := int(b[1]), b[2:]
	switch b[1] {
	case 0x81:
		n, rest = int(b[2]), b[3:]
	case 0x82:
		n, rest = int(b[2])<<8|int(b[3]), b[4:]
	}
	if n > len(rest) {
		t.Fatalf("tag %02X of length %d with %d bytes", tag, n, len(rest))
	}
	return rest[:n]
}

// unwrap82 takes the 82 value out of a 7C template answer.
func unwrap82(t *testing.T, b []byte) []byte {
	t.Helper()
	return readTL(t, readTL(t, b, 0x7C), 0x82)
}

func TestSign(t *testing.T) {
	digest := sha256.Sum256([]byte("to be signed"))
	t.Run("RSA-2048 raw on a PKCS#1 block", func(t *testing.T) {
		fixture := testkeys.Users[1].CardRSA()
		c := memCard(t, fixture)
		pub := testkeys.Cert(t, fixture).PublicKey.(*rsa.PublicKey)
		block := pkcs1Block(t, digest[:])
		if _, sw := call(t, c, gaSign(0x07, 0x9A, block)); sw != 0x6982 {
			t.Fatalf("sign without PIN: SW %04X", sw)
		}
		want(t, c, verifyAPDU("123456"), 0x9000)
		out, sw := call(t, c, gaSign(0x07, 0x9A, block))
		if sw != 0x9000 {
			t.Fatalf("sign: SW %04X", sw)
		}
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], unwrap82(t, out)); err != nil {
			t.Fatalf("signature does not verify: %v", err)
		}
		if _, sw := call(t, c, gaSign(0x07, 0x9A, block[:255])); sw != 0x6A80 {
			t.Fatalf("short block: SW %04X", sw)
		}
		big := bytes.Repeat([]byte{0xFF}, 256) // above the modulus
		if _, sw := call(t, c, gaSign(0x07, 0x9A, big)); sw != 0x6A80 {
			t.Fatalf("block above modulus: SW %04X", sw)
		}
		// One extended APDU instead of a chain.
		cmd := gaSign(0x07, 0x9A, block)
		cmd.Extended, cmd.Ne = true, 65536
		if sig := want(t, c, cmd.Bytes(), 0x9000); !bytes.Equal(unwrap82(t, sig), unwrap82(t, out)) {
			t.Fatal("extended APDU signature differs")
		}
	})
	t.Run("ECC P-256", func(t *testing.T) {
		fixture := testkeys.Users[1].CardEC()
		c := memCard(t, fixture)
		pub := testkeys.Cert(t, fixture).PublicKey.(*ecdsa.PublicKey)
		want(t, c, verifyAPDU("123456"), 0x9000)
		out, sw := call(t, c, gaSign(0x11, 0x9A, digest[:]))
		if sw != 0x9000 {
			t.Fatalf("sign: SW %04X", sw)
		}
		if !ecdsa.VerifyASN1(pub, digest[:], unwrap82(t, out)) {
			t.Fatal("signature does not verify")
		}
	})
	t.Run("chain interrupted", func(t *testing.T) {
		c := memCard(t, testkeys.Users[1].CardRSA())
		want(t, c, h("10 87 07 9A 02 7C 82"), 0x9000)
		want(t, c, h("00 CB 3F FF 03 5C 01 7E 00"), 0x6883)
		want(t, c, h("00 CB 3F FF 03 5C 01 7E 00"), 0x9000) // the chain is gone
	})
}

// pkcs1Block is the EMSA-PKCS1-v1_5 block of a SHA-256 digest for a
// 2048-bit key, as OpenSC builds it before GENERAL AUTHENTICATE.
func pkcs1Block(t *testing.T, digest []byte) []byte {
	t.Helper()
	prefix := h("30 31 30 0D 06 09 60 86 48 01 65 03 04 02 01 05 00 04 20")
	tail := append(prefix, digest...)
	b := append([]byte{0, 1}, bytes.Repeat([]byte{0xFF}, 256-3-len(tail))...)
	return append(append(b, 0), tail...)
}

// mgmtAuth authenticates to the card with the management key, by the
// external (A) or mutual (M) form.
func mgmtAuth(t *testing.T, c *vcard.Card, alg byte, key []byte, form byte) uint16 {
	t.Helper()
	var block cipher.Block
	var err error
	if alg == 0x03 {
		block, err = des.NewTripleDESCipher(key)
	} else {
		block, err = aes.NewCipher(key)
	}
	if err != nil {
		t.Fatal(err)
	}
	bs := block.BlockSize()
	if form == 'A' {
		out, sw := call(t, c, vcard.Command{INS: 0x87, P1: alg, P2: 0x9B, Data: h("7C 02 81 00")})
		if sw != 0x9000 || len(out) != 4+bs {
			t.Fatalf("challenge: SW %04X %X", sw, out)
		}
		enc := make([]byte, bs)
		block.Encrypt(enc, out[4:])
		resp := append([]byte{0x7C, byte(2 + bs), 0x82, byte(bs)}, enc...)
		_, sw = call(t, c, vcard.Command{INS: 0x87, P1: alg, P2: 0x9B, Data: resp})
		return sw
	}
	out, sw := call(t, c, vcard.Command{INS: 0x87, P1: alg, P2: 0x9B, Data: h("7C 02 80 00")})
	if sw != 0x9000 || len(out) != 4+bs {
		t.Fatalf("witness: SW %04X %X", sw, out)
	}
	witness := make([]byte, bs)
	block.Decrypt(witness, out[4:])
	challenge := bytes.Repeat([]byte{0x5A}, bs)
	msg := append([]byte{0x7C, byte(4 + 2*bs), 0x80, byte(bs)}, witness...)
	msg = append(append(msg, 0x81, byte(bs)), challenge...)
	out, sw = call(t, c, vcard.Command{INS: 0x87, P1: alg, P2: 0x9B, Data: msg})
	if sw != 0x9000 {
		return sw
	}
	enc := make([]byte, bs)
	block.Encrypt(enc, challenge)
	if !bytes.Equal(unwrap82(t, out), enc) {
		t.Fatal("card's answer to our challenge is wrong: the card does not hold the key")
	}
	return sw
}

func TestManagementKeyGenerateAndPutData(t *testing.T) {
	aesKey := h("000102030405060708090A0B0C0D0E0F")
	for _, tc := range []struct {
		name string
		alg  byte
		key  []byte
		form byte
		gen  byte
	}{
		{"3DES external, RSA-2048", 0x03, vcard.DefaultManagementKey, 'A', 0x07},
		{"3DES mutual, P-256", 0x03, vcard.DefaultManagementKey, 'M', 0x11},
		{"AES-128 external, P-384", 0x08, aesKey, 'A', 0x14},
		{"AES-128 mutual, P-256", 0x08, aesKey, 'M', 0x11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := vcard.NewState(nil, vcard.Secret("123456"), vcard.Secret("12345678"))
			if err != nil {
				t.Fatal(err)
			}
			st.MgmtAlg, st.MgmtKey = tc.alg, vcard.Secret(tc.key)
			c, err := vcard.New(st, vcard.Options{})
			if err != nil {
				t.Fatal(err)
			}
			want(t, c, selectPIV, 0x9000)
			wrong := bytes.Clone(tc.key)
			wrong[0] ^= 0x80
			if sw := mgmtAuth(t, c, tc.alg, wrong, tc.form); sw != 0x6982 {
				t.Fatalf("wrong management key: SW %04X, want 6982", sw)
			}
			gen := vcard.Command{INS: 0x47, P2: 0x9C, Data: []byte{0xAC, 3, 0x80, 1, tc.gen}}
			if _, sw := call(t, c, gen); sw != 0x6982 {
				t.Fatalf("GENERATE after a failed authentication: SW %04X", sw)
			}
			if sw := mgmtAuth(t, c, tc.alg, tc.key, tc.form); sw != 0x9000 {
				t.Fatalf("management key: SW %04X", sw)
			}
			out, sw := call(t, c, gen)
			if sw != 0x9000 || !bytes.HasPrefix(out, h("7F 49")) {
				t.Fatalf("GENERATE: SW %04X %X", sw, out)
			}
			pub, err := x509.ParsePKCS8PrivateKey(c.Snapshot().Keys["9c"])
			if err != nil {
				t.Fatal(err)
			}
			signer := pub.(crypto.Signer)
			// The answer is the public half of the stored key.
			switch k := signer.Public().(type) {
			case *rsa.PublicKey:
				if !bytes.Contains(out, k.N.Bytes()) {
					t.Fatal("GENERATE answer lacks the modulus")
				}
			case *ecdsa.PublicKey:
				point, _ := k.Bytes()
				if !bytes.Contains(out, point) {
					t.Fatal("GENERATE answer lacks the point")
				}
			}
			// PUT DATA a certificate object for 9C, read it back.
			certObj := append(h("70 03 01 02 03"), h("71 01 00 FE 00")...)
			put := append(h("5C 03 5F C1 0A 53"), byte(len(certObj)))
			put = append(put, certObj...)
			want(t, c, vcard.Command{INS: 0xDB, P1: 0x3F, P2: 0xFF, Data: put}.Bytes(), 0x9000)
			got, sw := call(t, c, vcard.Command{INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: h("5C 03 5F C1 0A")})
			if sw != 0x9000 || !bytes.Equal(got[2:], certObj) {
				t.Fatalf("GET DATA after PUT DATA: SW %04X %X", sw, got)
			}
			// Discovery and unknown objects cannot be written; an empty 53 deletes.
			want(t, c, vcard.Command{INS: 0xDB, P1: 0x3F, P2: 0xFF, Data: h("5C 01 7E 53 00")}.Bytes(), 0x6A80)
			want(t, c, vcard.Command{INS: 0xDB, P1: 0x3F, P2: 0xFF, Data: h("5C 03 5F C1 FF 53 00")}.Bytes(), 0x6A80)
			want(t, c, vcard.Command{INS: 0xDB, P1: 0x3F, P2: 0xFF, Data: h("5C 03 5F C1 0A 53 00")}.Bytes(), 0x9000)
			want(t, c, vcard.Command{INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: h("5C 03 5F C1 0A"), Ne: 256}.Bytes(), 0x6A82)
			// The new key signs once the PIN is verified.
			want(t, c, verifyAPDU("123456"), 0x9000)
			digest := sha256.Sum256([]byte("new key"))
			switch k := signer.Public().(type) {
			case *rsa.PublicKey:
				out, sw := call(t, c, gaSign(tc.gen, 0x9C, pkcs1Block(t, digest[:])))
				if sw != 0x9000 || rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], unwrap82(t, out)) != nil {
					t.Fatalf("new RSA key: SW %04X or bad signature", sw)
				}
			case *ecdsa.PublicKey:
				out, sw := call(t, c, gaSign(tc.gen, 0x9C, digest[:]))
				if sw != 0x9000 || !ecdsa.VerifyASN1(k, digest[:], unwrap82(t, out)) {
					t.Fatalf("new EC key: SW %04X or bad signature", sw)
				}
			}
			// A power cycle forgets the management key authentication.
			c.Reset()
			want(t, c, selectPIV, 0x9000)
			if _, sw := call(t, c, gen); sw != 0x6982 {
				t.Fatalf("GENERATE after reset: SW %04X", sw)
			}
		})
	}
}

func TestStateValidate(t *testing.T) {
	good := func() *vcard.State {
		st, err := vcard.NewState(nil, vcard.Secret("123456"), vcard.Secret("12345678"))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	for _, tc := range []struct {
		name   string
		break_ func(st *vcard.State)
		msg    string
	}{
		{"pin letters", func(st *vcard.State) { st.PIN = vcard.Secret("12345a") }, "pin"},
		{"pin tries", func(st *vcard.State) { st.PINTries = 4 }, "pin_tries"},
		{"mgmt key length", func(st *vcard.State) { st.MgmtKey = st.MgmtKey[:16] }, "mgmt_key"},
		{"mgmt alg", func(st *vcard.State) { st.MgmtAlg = 0x0A }, "mgmt_alg"},
		{"slot", func(st *vcard.State) { st.Keys["9b"] = []byte{1} }, "key reference"},
		{"key", func(st *vcard.State) { st.Keys["9a"] = []byte{1} }, "keys[9a]"},
		{"object", func(st *vcard.State) { st.Objects["5fc1ff"] = nil }, "not a PIV data object"},
		{"guid", func(st *vcard.State) { st.GUID = nil }, "guid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := good()
			tc.break_(st)
			err := st.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Validate() = %v, want it to mention %q", err, tc.msg)
			}
			if strings.Contains(fmt.Sprintf("%v %+v", err, st), "123456") {
				t.Fatal("a PIN reached an error or a formatted state")
			}
		})
	}
	// Two problems are reported together.
	st := good()
	st.PINTries, st.PUKTries = -1, 9
	if err := st.Validate(); err == nil || !strings.Contains(err.Error(), "pin_tries") || !strings.Contains(err.Error(), "puk_tries") {
		t.Fatalf("Validate() = %v, want both problems", err)
	}
}

// TestSecretsDoNotPrint: formatting a state shows no PIN, PUK, management
// key or private key.
func TestSecretsDoNotPrint(t *testing.T) {
	fixture := testkeys.Users[0].CardEC()
	st, err := vcard.NewState(nil, vcard.Secret("123456"), vcard.Secret("87654321"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetKeyAndCert(0x9A, testkeys.Key(t, fixture), testkeys.Cert(t, fixture)); err != nil {
		t.Fatal(err)
	}
	keyBytes := fmt.Sprint([]byte(st.Keys["9a"]))
	mgmt := fmt.Sprint([]byte(st.MgmtKey))
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, st)
		for _, secret := range []string{"123456", "87654321", keyBytes[1 : len(keyBytes)-1], mgmt[1 : len(mgmt)-1]} {
			if strings.Contains(out, secret) {
				t.Fatalf("%s of a State shows a secret", format)
			}
		}
	}
}
