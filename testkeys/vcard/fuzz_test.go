package vcard

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"math/rand"
	"testing"
	"time"
)

// fuzzCard is a card with a P-256 key and certificate in 9A and a
// deterministic random source, so a failing input replays exactly.
// fuzzCard is a card with a P-256 key in 9A whose GENERATE of an RSA-2048
// key hands out rsaKey: generating one can outlast a short fuzz run.
func fuzzCard(tb testing.TB, rsaKey *rsa.PrivateKey) *Card {
	tb.Helper()
	rnd := rand.New(rand.NewSource(1))
	st, err := NewState(rnd, Secret("123456"), Secret("12345678"))
	if err != nil {
		tb.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0)}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	if err := st.SetKeyAndCert(0x9A, key, cert); err != nil {
		tb.Fatal(err)
	}
	c, err := New(st, Options{Rand: rnd, GenerateRSA: func() (*rsa.PrivateKey, error) { return rsaKey, nil }})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// fuzzRSAKey makes the RSA key fuzz cards hand out, before fuzzing starts.
func fuzzRSAKey(f *testing.F) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(crand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	return k
}

// FuzzParseCommand: any bytes either parse into a command that encodes
// back to the same bytes, or are refused with 6700; never a panic.
func FuzzParseCommand(f *testing.F) {
	for _, s := range [][]byte{
		{0, 0xA4, 4, 0}, {0, 0xC0, 0, 0, 0}, {0, 0x20, 0, 0x80, 2, 0x31, 0x32},
		{0, 0xCB, 0x3F, 0xFF, 3, 0x5C, 1, 0x7E, 0}, {0, 0xCB, 0x3F, 0xFF, 0, 1, 0},
		{0, 0xCB, 0x3F, 0xFF, 0, 0, 3, 0x5C, 1, 0x7E, 0, 0}, {0, 0xCB, 0x3F},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cmd, err := ParseCommand(b)
		if err != nil {
			var se *StatusError
			if !errors.As(err, &se) || se.SW != swWrongLength {
				t.Fatalf("ParseCommand(%X) error %v, want SW 6700", b, err)
			}
			return
		}
		if got := cmd.Bytes(); !bytes.Equal(got, b) {
			t.Fatalf("ParseCommand(%X) re-encodes as %X", b, got)
		}
	})
}

// FuzzCard sends a sequence of APDUs (each prefixed by a one-byte length)
// to a card whose PIV application is selected and PIN verified, without the
// panic guard of Transmit: every answer must be a well-formed response.
func FuzzCard(f *testing.F) {
	seeds := [][]byte{
		{4, 0, 0x20, 0, 0x80, 0x0D, 0, 0x20, 0, 0x80, 8, '1', '2', '3', '4', '5', '6', 0xFF, 0xFF},
		{9, 0, 0xCB, 0x3F, 0xFF, 3, 0x5C, 1, 0x7E, 0},
		{11, 0, 0xCB, 0x3F, 0xFF, 5, 0x5C, 3, 0x5F, 0xC1, 0x05, 0, 5, 0, 0xC0, 0, 0, 0},
		{9, 0, 0x87, 0x03, 0x9B, 4, 0x7C, 2, 0x81, 0, 9, 0, 0x87, 0x03, 0x9B, 4, 0x7C, 2, 0x80, 0},
		{7, 0x10, 0x87, 0x11, 0x9A, 2, 0x7C, 0x26, 9, 0, 0x87, 0x11, 0x9A, 4, 0x82, 0, 0x81, 0x20},
		{10, 0, 0x47, 0, 0x9A, 5, 0xAC, 3, 0x80, 1, 0x11},
		{13, 0, 0xDB, 0x3F, 0xFF, 7, 0x5C, 3, 0x5F, 0xC1, 0x05, 0x53, 0, 0},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	rsaKey := fuzzRSAKey(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		c := fuzzCard(t, rsaKey)
		for _, apdu := range [][]byte{
			{0, 0xA4, 4, 0, 5, 0xA0, 0, 0, 3, 8, 0},
			{0, 0x20, 0, 0x80, 8, '1', '2', '3', '4', '5', '6', 0xFF, 0xFF},
		} {
			if r := c.transmit(apdu); !bytes.Equal(r[len(r)-2:], []byte{0x90, 0}) {
				t.Fatalf("set-up APDU %X: %X", apdu, r)
			}
		}
		for len(in) > 0 {
			n := int(in[0])
			in = in[1:]
			if n > len(in) {
				n = len(in)
			}
			apdu := in[:n]
			in = in[n:]
			r := c.transmit(apdu)
			if len(r) < 2 {
				t.Fatalf("APDU %X: response %X has no status word", apdu, r)
			}
			code := uint16(r[len(r)-2])<<8 | uint16(r[len(r)-1])
			if len(r) > 2 && code != swOK && code&0xFF00 != swMoreData {
				t.Fatalf("APDU %X: data with error status %04X", apdu, code)
			}
			if code>>12 != 6 && code>>12 != 9 {
				t.Fatalf("APDU %X: status word %04X out of ISO 7816 range", apdu, code)
			}
		}
		if err := c.st.Validate(); err != nil {
			t.Fatalf("the APDUs left an invalid state: %v", err)
		}
	})
}

// rw is an in-memory vpcd connection: reads from in, writes to out.
type rw struct {
	in  io.Reader
	out bytes.Buffer
}

func (x *rw) Read(p []byte) (int, error)  { return x.in.Read(p) }
func (x *rw) Write(p []byte) (int, error) { return x.out.Write(p) }

// FuzzVPCD feeds a byte stream to the vpcd session loop as if pcscd had
// sent it: it must end cleanly or with an error, and everything the card
// wrote must be well-formed frames.
func FuzzVPCD(f *testing.F) {
	frame := func(b ...byte) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...) }
	f.Add(bytes.Join([][]byte{frame(1), frame(4), frame(0, 0xA4, 4, 0, 5, 0xA0, 0, 0, 3, 8, 0), frame(0)}, nil))
	f.Add(frame(4))
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 5, 1})
	f.Add(frame(9))
	f.Add(frame(0, 0xCB))
	rsaKey := fuzzRSAKey(f)
	f.Fuzz(func(t *testing.T, stream []byte) {
		c := fuzzCard(t, rsaKey)
		conn := &rw{in: bytes.NewReader(stream)}
		_ = c.Serve(conn) // errors are fine; panics and bad frames are not
		out := bytes.NewReader(conn.out.Bytes())
		for out.Len() > 0 {
			msg, err := ReadFrame(out)
			if err != nil {
				t.Fatalf("card wrote a malformed frame: %v", err)
			}
			if len(msg) < 2 {
				t.Fatalf("card wrote a %d-byte answer", len(msg))
			}
		}
	})
}

// FuzzTLV: parseTLVs never panics, and what it parses re-encodes to bytes
// that parse to the same elements.
func FuzzTLV(f *testing.F) {
	f.Add([]byte{0x7C, 0x02, 0x82, 0x00})
	f.Add([]byte{0x5F, 0xC1, 0x05, 0x81, 0x01, 0x00})
	f.Add([]byte{0x53, 0x82, 0x00, 0x01, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := parseTLVs(b)
		if err != nil {
			return
		}
		again, err := parseTLVs(tlvs(ts...))
		if err != nil || len(again) != len(ts) {
			t.Fatalf("re-encoded TLVs do not parse back: %v", err)
		}
		for i := range ts {
			if ts[i].tag != again[i].tag || !bytes.Equal(ts[i].value, again[i].value) {
				t.Fatalf("element %d changed: %X/%X -> %X/%X", i, ts[i].tag, ts[i].value, again[i].tag, again[i].value)
			}
		}
	})
}
