package vcard_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carespine/spineauth/testkeys"
	"github.com/carespine/spineauth/testkeys/pcsctest"
	"github.com/carespine/spineauth/testkeys/vcard"
)

// These tests drive the card through the real stack: a private pcscd with
// the vpcd driver (package pcsctest), OpenSC's PIV driver and its PKCS#11
// module, and OpenSC's command-line tools.

const openscModule = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"

func needOpenSC(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"pkcs11-tool", "pkcs15-tool", "piv-tool", "opensc-tool"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: install the Debian package opensc (scripts/setup.sh)", bin)
		}
	}
	if _, err := os.Stat(openscModule); err != nil {
		t.Fatalf("OpenSC PKCS#11 module: %v", err)
	}
}

// newCard makes a card holding the fixture's key and certificate in 9A,
// with PIN 123456 and PUK 12345678, saved in a temporary state file.
func newCard(t *testing.T, fixture string) (*vcard.Card, string) {
	t.Helper()
	st, err := vcard.NewState(nil, vcard.Secret("123456"), vcard.Secret("12345678"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetKeyAndCert(0x9A, testkeys.Key(t, fixture), testkeys.Cert(t, fixture)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "card.json")
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}
	c, err := vcard.Open(path, vcard.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c, path
}

// tool runs an OpenSC tool against the private pcscd and returns its
// combined output and exit error.
func tool(t *testing.T, d *pcsctest.Daemon, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(d.Env(), env...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustTool is tool that fails the test when the command fails.
func mustTool(t *testing.T, d *pcsctest.Daemon, name string, args ...string) string {
	t.Helper()
	out, err := tool(t, d, nil, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func p11(args ...string) []string { return append([]string{"--module", openscModule}, args...) }

func insert(t *testing.T, c *vcard.Card, addr string) {
	t.Helper()
	if err := c.Insert(context.Background(), addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Remove() })
}

// readerHasCard asks opensc-tool whether pcscd sees a card in reader.
func readerHasCard(t *testing.T, d *pcsctest.Daemon, reader string) bool {
	t.Helper()
	out := mustTool(t, d, "opensc-tool", "--list-readers")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasSuffix(strings.TrimSpace(line), reader) {
			f := strings.Fields(line)
			return len(f) > 1 && f[1] == "Yes"
		}
	}
	t.Fatalf("reader %q not listed:\n%s", reader, out)
	return false
}

// waitFor polls cond every 50 ms for up to 10 s and returns how long it took.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// signWith signs data with the key of id on the token labelled label
// through pkcs11-tool, and returns the signature.
func signWith(t *testing.T, d *pcsctest.Daemon, label, id, mech, pin string, data []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "data"), filepath.Join(dir, "sig")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	mustTool(t, d, "pkcs11-tool", p11("--token-label", label, "--login", "--pin", pin, "--sign",
		"--id", id, "-m", mech, "-i", in, "-o", out)...)
	sig, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// verifySig checks a PKCS#11 signature (RSA PKCS#1 v1.5 or ECDSA r||s) of
// SHA-256(data) with pub.
func verifySig(t *testing.T, pub crypto.PublicKey, data, sig []byte) {
	t.Helper()
	digest := sha256.Sum256(data)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("RSA signature from the card does not verify: %v", err)
		}
	case *ecdsa.PublicKey:
		half := len(sig) / 2
		r, s := new(big.Int).SetBytes(sig[:half]), new(big.Int).SetBytes(sig[half:])
		if len(sig) != 64 || !ecdsa.Verify(k, digest[:], r, s) {
			t.Fatalf("ECDSA signature (%d bytes) from the card does not verify", len(sig))
		}
	default:
		t.Fatalf("key type %T", pub)
	}
}

func mechFor(pub crypto.PublicKey) string {
	if _, ok := pub.(*rsa.PublicKey); ok {
		return "SHA256-RSA-PKCS"
	}
	return "ECDSA-SHA256"
}

// TestOpenSCReadsAndSigns: for an RSA and an EC card, pcscd sees the card,
// OpenSC's PKCS#11 module shows its token and certificate (byte for byte
// the fixture), pkcs11-tool's self-test passes, and a signature made on
// the card verifies with the certificate's key.
func TestOpenSCReadsAndSigns(t *testing.T) {
	needOpenSC(t)
	for _, fixture := range []string{testkeys.Users[0].CardRSA(), testkeys.Users[0].CardEC()} {
		t.Run(fixture, func(t *testing.T) {
			t.Parallel()
			d := pcsctest.Start(t)
			c, _ := newCard(t, fixture)
			cert := testkeys.Cert(t, fixture)
			label := testkeys.Users[0].CN()
			if readerHasCard(t, d, d.Readers[0].Name) {
				t.Fatal("a card is present before insertion")
			}
			insert(t, c, d.Readers[0].Addr)
			waitFor(t, "card present", func() bool { return readerHasCard(t, d, d.Readers[0].Name) })
			// pcsc_scan (-n: no ATR lookup, which would go to the network).
			scan, _ := tool(t, d, nil, "pcsc_scan", "-n", "-t", "1")
			if !strings.Contains(scan, "Card inserted") || !strings.Contains(scan, "ATR: "+strings.ToUpper(spaced(c.ATR()))) {
				t.Fatalf("pcsc_scan does not show the card:\n%s", scan)
			}
			atr := mustTool(t, d, "opensc-tool", "--reader", "0", "--atr")
			if !strings.Contains(strings.ToLower(strings.ReplaceAll(atr, ":", "")), "3b8b8001") {
				t.Fatalf("ATR: %s", atr)
			}
			if out := mustTool(t, d, "opensc-tool", "--reader", "0", "--name"); !strings.Contains(out, "Personal Identity Verification Card") {
				t.Fatalf("OpenSC does not take the card for PIV: %s", out)
			}
			slots := mustTool(t, d, "pkcs11-tool", p11("--list-token-slots")...)
			if !strings.Contains(slots, "token label        : "+label) {
				t.Fatalf("token not listed with label %q:\n%s", label, slots)
			}
			objs := mustTool(t, d, "pkcs11-tool", p11("--list-objects")...)
			if !strings.Contains(objs, "Certificate Object") || !strings.Contains(objs, "CN="+label) {
				t.Fatalf("certificate not listed:\n%s", objs)
			}
			der := filepath.Join(t.TempDir(), "cert.der")
			mustTool(t, d, "pkcs11-tool", p11("--read-object", "--type", "cert", "--id", "01", "-o", der)...)
			if got, _ := os.ReadFile(der); !bytes.Equal(got, cert.Raw) {
				t.Fatal("the certificate read through OpenSC differs from the one on the card")
			}
			if _, ok := cert.PublicKey.(*rsa.PublicKey); ok {
				out := mustTool(t, d, "pkcs11-tool", p11("--test", "--login", "--pin", "123456")...)
				if !strings.Contains(out, "No errors") || !strings.Contains(out, "RSA-X-509: OK") {
					t.Fatalf("pkcs11-tool --test:\n%s", out)
				}
			}
			data := []byte("challenge from authd")
			sig := signWith(t, d, label, "01", mechFor(cert.PublicKey), "123456", data)
			verifySig(t, cert.PublicKey, data, sig)
		})
	}
}

// TestOpenSCPINLockAndPUK: three wrong PINs lock the card for OpenSC, the
// lock survives restarting vcard from its state file, and the PUK
// (pkcs15-tool --unblock-pin, RESET RETRY COUNTER) restores it.
func TestOpenSCPINLockAndPUK(t *testing.T) {
	needOpenSC(t)
	t.Parallel()
	d := pcsctest.Start(t)
	fixture := testkeys.Users[1].CardEC()
	c, path := newCard(t, fixture)
	insert(t, c, d.Readers[0].Addr)
	waitFor(t, "card present", func() bool { return readerHasCard(t, d, d.Readers[0].Name) })
	login := func(pin string) (string, error) {
		return tool(t, d, nil, "pkcs11-tool", p11("--login", "--pin", pin, "--list-objects")...)
	}
	for i := 1; i <= 3; i++ {
		out, err := login("999999")
		if err == nil || !strings.Contains(out, "CKR_PIN_INCORRECT") {
			t.Fatalf("wrong PIN %d: %v\n%s", i, err, out)
		}
	}
	out, err := login("123456")
	if err == nil || !strings.Contains(out, "CKR_PIN_LOCKED") {
		t.Fatalf("right PIN on a locked card: %v\n%s", err, out)
	}
	if out := mustTool(t, d, "pkcs11-tool", p11("--list-token-slots")...); !strings.Contains(out, "user PIN locked") {
		t.Fatalf("token flags do not show the lock:\n%s", out)
	}

	// Restart vcard from its file: still locked.
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "card removed", func() bool { return !readerHasCard(t, d, d.Readers[0].Name) })
	c2, err := vcard.Open(path, vcard.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if st := c2.Snapshot(); st.PINTries != 0 {
		t.Fatalf("state file: %d PIN tries left, want 0", st.PINTries)
	}
	insert(t, c2, d.Readers[0].Addr)
	waitFor(t, "card present", func() bool { return readerHasCard(t, d, d.Readers[0].Name) })
	if out, err := login("123456"); err == nil || !strings.Contains(out, "CKR_PIN_LOCKED") {
		t.Fatalf("after restart: %v\n%s", err, out)
	}

	// A wrong PUK does not unblock; the right one sets a new PIN.
	if out, err := tool(t, d, nil, "pkcs15-tool", "--unblock-pin", "--puk", "87654321", "--new-pin", "654321"); err == nil {
		t.Fatalf("wrong PUK unblocked the card:\n%s", out)
	}
	mustTool(t, d, "pkcs15-tool", "--unblock-pin", "--puk", "12345678", "--new-pin", "654321")
	if out, err := login("123456"); err == nil {
		t.Fatalf("old PIN still works after unblock:\n%s", out)
	}
	if out, err := login("654321"); err != nil {
		t.Fatalf("new PIN: %v\n%s", err, out)
	}
	data := []byte("after unblock")
	verifySig(t, testkeys.Cert(t, fixture).PublicKey, data,
		signWith(t, d, testkeys.Users[1].CN(), "01", "ECDSA-SHA256", "654321", data))
	if st := c2.Snapshot(); st.PINTries != vcard.MaxTries || st.PUKTries != vcard.MaxTries {
		t.Fatalf("tries after unblock: PIN %d PUK %d", st.PINTries, st.PUKTries)
	}
}

// TestOpenSCTwoReadersAndRemoval: two cards in the two readers of one
// pcscd are two tokens at once; removing one makes only its token
// disappear, and putting it back brings it back.
func TestOpenSCTwoReadersAndRemoval(t *testing.T) {
	needOpenSC(t)
	t.Parallel()
	d := pcsctest.Start(t)
	alice, bob := testkeys.Users[0], testkeys.Users[1]
	ca, _ := newCard(t, alice.CardRSA())
	cb, _ := newCard(t, bob.CardEC())
	insert(t, ca, d.Readers[0].Addr)
	insert(t, cb, d.Readers[1].Addr)
	tokens := func() string { // no token at all is an exit status 1
		out, _ := tool(t, d, nil, "pkcs11-tool", p11("--list-token-slots")...)
		return out
	}
	waitFor(t, "both tokens", func() bool {
		out := tokens()
		return strings.Contains(out, alice.CN()) && strings.Contains(out, bob.CN())
	})
	for _, u := range []struct {
		user    testkeys.User
		fixture string
	}{{alice, alice.CardRSA()}, {bob, bob.CardEC()}} {
		pub := testkeys.Cert(t, u.fixture).PublicKey
		data := []byte("signed by " + u.user.Name)
		verifySig(t, pub, data, signWith(t, d, u.user.CN(), "01", mechFor(pub), "123456", data))
	}

	if err := cb.Remove(); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, "Bob's token to disappear", func() bool { return !strings.Contains(tokens(), bob.CN()) })
	t.Logf("token gone %v after removal (polling pkcs11-tool every 50 ms)", took)
	if out := tokens(); !strings.Contains(out, alice.CN()) {
		t.Fatalf("removing Bob's card took Alice's token too:\n%s", out)
	}
	if readerHasCard(t, d, d.Readers[1].Name) {
		t.Fatal("reader 1 still shows a card")
	}
	if err := cb.Insert(context.Background(), d.Readers[1].Addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Bob's token back", func() bool { return strings.Contains(tokens(), bob.CN()) })
}

// TestPivToolIssuance: an RA issues onto the card with OpenSC's piv-tool:
// authenticate with the card management key (mutual, 3DES or AES-128),
// generate a key pair in 9C, write a certificate for it, and the new key
// signs through PKCS#11. A wrong management key changes nothing.
func TestPivToolIssuance(t *testing.T) {
	needOpenSC(t)
	for _, tc := range []struct {
		name string
		alg  byte
		key  vcard.Secret
	}{
		{"3DES default key", vcard.Alg3DES, vcard.DefaultManagementKey},
		{"AES-128", vcard.AlgAES128, vcard.Secret(bytes.Repeat([]byte{0x42}, 16))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := pcsctest.Start(t)
			alice := testkeys.Users[0]
			c, path := newCard(t, alice.CardRSA())
			c.Remove()
			st, err := vcard.LoadState(path)
			if err != nil {
				t.Fatal(err)
			}
			st.MgmtAlg, st.MgmtKey = tc.alg, tc.key
			if err := st.Save(path); err != nil {
				t.Fatal(err)
			}
			c, err = vcard.Open(path, vcard.Options{Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			insert(t, c, d.Readers[0].Addr)
			waitFor(t, "card present", func() bool { return readerHasCard(t, d, d.Readers[0].Name) })

			dir := t.TempDir()
			keyFile := func(k []byte) []string {
				f := filepath.Join(dir, "mgmt.hex")
				if err := os.WriteFile(f, []byte(strings.ToUpper(hexString(k))), 0o600); err != nil {
					t.Fatal(err)
				}
				return []string{"PIV_EXT_AUTH_KEY=" + f}
			}
			admin := "M:9B:" + hexString([]byte{tc.alg})
			// piv-tool 0.23's own -G reaches the card but then fails to
			// build the public key with OpenSSL 3 ("gen_key unable to gen
			// RSA", "invalid curve"), so the RA sends GENERATE itself with
			// piv-tool -s after -A and reads the public key from the answer.
			generate := []string{"-A", admin, "-s", "00:47:00:9C:05:AC:03:80:01:07:00"}
			wrong := bytes.Clone(tc.key)
			wrong[3] ^= 0x10 // not a DES parity bit
			if out, err := tool(t, d, keyFile(wrong), "piv-tool", generate...); err == nil {
				t.Fatalf("piv-tool with a wrong management key succeeded:\n%s", out)
			}
			if _, ok := c.Snapshot().Keys["9c"]; ok {
				t.Fatal("a key was generated without the management key")
			}
			out, err := tool(t, d, keyFile(tc.key), "piv-tool", generate...)
			if err != nil || !strings.Contains(out, "Received (SW1=0x90, SW2=0x00)") {
				t.Fatalf("piv-tool GENERATE: %v\n%s", err, out)
			}
			pub := rsaFromGenerate(t, hexDump(t, out))
			certPEM := issueCert(t, alice, pub)
			certFile := filepath.Join(dir, "cert.pem")
			if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			tool(t, d, keyFile(wrong), "piv-tool", "-A", admin, "-C", "9C", "-i", certFile)
			if _, ok := c.Snapshot().Objects["5fc10a"]; ok {
				t.Fatal("a certificate was written without the management key")
			}
			// piv-tool 0.23 exits with the number of bytes written (mod 256)
			// when -C succeeds, so its exit status says nothing; the listing
			// below shows whether the certificate arrived.
			out, _ = tool(t, d, keyFile(tc.key), "piv-tool", "-A", admin, "-C", "9C", "-i", certFile)
			if strings.Contains(out, "failed") {
				t.Fatalf("piv-tool write certificate:\n%s", out)
			}
			objs := mustTool(t, d, "pkcs11-tool", p11("--list-objects", "--type", "cert")...)
			if strings.Count(objs, "Certificate Object") != 2 || !strings.Contains(objs, "Certificate for Digital Signature") {
				t.Fatalf("the new certificate is not listed:\n%s", objs)
			}
			// piv-tool's own -G drives GENERATE correctly; only its output
			// step fails (see above), so the exit status is not asserted.
			tool(t, d, keyFile(tc.key), "piv-tool", "-A", admin, "-G", "9D:11")
			k9d, err := x509.ParsePKCS8PrivateKey(c.Snapshot().Keys["9d"])
			if k, ok := k9d.(*ecdsa.PrivateKey); err != nil || !ok || k.Curve.Params().Name != "P-256" {
				t.Fatalf("piv-tool -G 9D:11 left no P-256 key in 9D (%T, %v)", k9d, err)
			}
			data := []byte("signed with the key made on the card")
			verifySig(t, pub, data, signWith(t, d, alice.CN(), "02", "SHA256-RSA-PKCS", "123456", data))
		})
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}

// hexDump reads the bytes of piv-tool's "Received" hex dump (16 bytes a
// line, hex then ASCII).
func hexDump(t *testing.T, out string) []byte {
	t.Helper()
	_, dump, ok := strings.Cut(out, "Received (SW1=0x90, SW2=0x00):\n")
	if !ok {
		t.Fatalf("no response dump in:\n%s", out)
	}
	var b []byte
	for _, line := range strings.Split(dump, "\n") {
		if len(line) > 48 {
			line = line[:48]
		}
		for _, f := range strings.Fields(line) {
			v, err := strconv.ParseUint(f, 16, 8)
			if err != nil || len(f) != 2 {
				return b
			}
			b = append(b, byte(v))
		}
	}
	return b
}

// rsaFromGenerate parses GENERATE's answer 7F49{81 n, 82 e}.
func rsaFromGenerate(t *testing.T, b []byte) *rsa.PublicKey {
	t.Helper()
	if len(b) < 5 || b[0] != 0x7F || b[1] != 0x49 || b[2] != 0x82 {
		t.Fatalf("GENERATE answer %X", b)
	}
	body := b[5:]
	if len(body) != int(b[3])<<8|int(b[4]) {
		t.Fatalf("GENERATE answer of %d bytes, template says %d", len(body), int(b[3])<<8|int(b[4]))
	}
	n := readTL(t, body, 0x81)
	rest := body[len(n)+4:]
	e := readTL(t, rest, 0x82)
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
}

// spaced writes b as hex bytes separated by spaces, as pcsc_scan does.
func spaced(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = hexString([]byte{x})
	}
	return strings.Join(parts, " ")
}
