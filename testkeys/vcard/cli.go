package vcard

import (
	"bufio"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Default reference data of a card made by `vcard init` without PIN or PUK
// files: a test card's, never a real one's.
const (
	DefaultPIN = "123456"
	DefaultPUK = "12345678"
)

const usage = `usage:
  vcard init --state FILE --cert CERT.pem --key KEY.pem [--slot 9a]
             [--pin-file F] [--puk-file F] [--mgmt-key-file F] [--mgmt-alg 3des|aes128] [--force]
  vcard run --state FILE [--vpcd HOST:PORT] [--removed] [--log-level debug|info|warn]
  vcard status --state FILE

run serves the card to a vpcd reader (default ` + DefaultVPCD + `). While it runs,
stdin lines "remove", "insert", "status" and "quit" (or signals USR1 = remove,
USR2 = insert) take the card out and put it back. Without PIN or PUK files,
init sets PIN ` + DefaultPIN + ` and PUK ` + DefaultPUK + `; the management key defaults to
the well-known 3DES test key 0102030405060708 (three times).
`

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

// Main is the vcard command: it returns the exit status (0 ok, 1 failure,
// 2 usage or unreadable input).
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdin, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "vcard: %v\n", err)
		return 2
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stderr, usage)
		return 2
	}
	fmt.Fprintf(stderr, "vcard: %v\n", err)
	return 1
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	switch args[0] {
	case "init":
		return cmdInit(args[1:], stdout, stderr)
	case "run":
		return cmdRun(ctx, args[1:], stdin, stdout, stderr)
	case "status":
		return cmdStatus(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("vcard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

func cmdInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("init", stderr)
	statePath := fs.String("state", "", "state file to create")
	certPath := fs.String("cert", "", "certificate (PEM) for the slot")
	keyPath := fs.String("key", "", "private key (PEM: PKCS#8, PKCS#1 or SEC 1) for the slot")
	slot := fs.String("slot", "9a", "key reference: 9a, 9c, 9d or 9e")
	pinFile := fs.String("pin-file", "", "file holding the PIN (default "+DefaultPIN+")")
	pukFile := fs.String("puk-file", "", "file holding the PUK (default "+DefaultPUK+")")
	mgmtFile := fs.String("mgmt-key-file", "", "file holding the management key in hex (default: the 3DES test key)")
	mgmtAlg := fs.String("mgmt-alg", "3des", "management key algorithm: 3des or aes128")
	force := fs.Bool("force", false, "overwrite an existing state file")
	if err := parse(fs, args); err != nil {
		return err
	}
	var problems []string
	if *statePath == "" {
		problems = append(problems, "--state is required")
	}
	if (*certPath == "") != (*keyPath == "") {
		problems = append(problems, "--cert and --key go together")
	}
	ref, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(*slot), "0x"))
	if _, ok := slotObjects[firstByte(ref)]; err != nil || len(ref) != 1 || !ok {
		problems = append(problems, fmt.Sprintf("--slot %q is not 9a, 9c, 9d or 9e", *slot))
	}
	alg := map[string]byte{"3des": Alg3DES, "aes128": AlgAES128}[*mgmtAlg]
	if alg == 0 {
		problems = append(problems, fmt.Sprintf("--mgmt-alg %q is not 3des or aes128", *mgmtAlg))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", errUsage, strings.Join(problems, "; "))
	}
	if _, err := os.Stat(*statePath); err == nil && !*force {
		return fmt.Errorf("%w: %s exists (use --force to overwrite)", errUsage, *statePath)
	}
	pin, err := secretFile(*pinFile, DefaultPIN)
	if err != nil {
		return err
	}
	puk, err := secretFile(*pukFile, DefaultPUK)
	if err != nil {
		return err
	}
	st, err := NewState(nil, pin, puk)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *mgmtFile != "" || alg != Alg3DES {
		if *mgmtFile == "" {
			return fmt.Errorf("%w: --mgmt-alg %s needs --mgmt-key-file", errUsage, *mgmtAlg)
		}
		b, err := os.ReadFile(*mgmtFile)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		k, err := ParseSecretHex(string(b))
		if err != nil {
			return fmt.Errorf("%w: %s: %v", errUsage, *mgmtFile, err)
		}
		if len(k) != mgmtKeyLen(alg) {
			return fmt.Errorf("%w: %s: %d-byte key for %s (want %d)", errUsage, *mgmtFile, len(k), *mgmtAlg, mgmtKeyLen(alg))
		}
		st.MgmtAlg, st.MgmtKey = alg, k
	}
	if *certPath != "" {
		cert, err := readCert(*certPath)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		key, err := readKey(*keyPath)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if err := st.SetKeyAndCert(ref[0], key, cert); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	if err := st.Save(*statePath); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "card %X written to %s\n", st.GUID, *statePath)
	return nil
}

// secretFile reads a PIN or PUK from a file (one line), or returns def.
func secretFile(path, def string) (Secret, error) {
	if path == "" {
		return Secret(def), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return Secret(strings.TrimRight(string(b), "\r\n")), nil
}

func readPEM(path, what string, types ...string) ([]byte, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, "", fmt.Errorf("%s: no %s PEM block", path, what)
		}
		for _, t := range types {
			if blk.Type == t {
				return blk.Bytes, t, nil
			}
		}
	}
}

func readCert(path string) (*x509.Certificate, error) {
	der, _, err := readPEM(path, "certificate", "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func readKey(path string) (crypto.Signer, error) {
	der, typ, err := readPEM(path, "private key", "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	var k any
	switch typ {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(der)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(der)
	default:
		k, err = x509.ParseECPrivateKey(der)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: key type %T", path, k)
	}
	return s, nil
}

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	statePath := fs.String("state", "", "state file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *statePath == "" {
		return fmt.Errorf("%w: --state is required", errUsage)
	}
	st, err := LoadState(*statePath)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	printStatus(stdout, st)
	return nil
}

// printStatus shows what the card holds, never a secret.
func printStatus(w io.Writer, st *State) {
	fmt.Fprintf(w, "card %X\n", st.GUID)
	fmt.Fprintf(w, "pin tries left: %d of %d%s\n", st.PINTries, MaxTries, blocked(st.PINTries))
	fmt.Fprintf(w, "puk tries left: %d of %d%s\n", st.PUKTries, MaxTries, blocked(st.PUKTries))
	names := map[byte]string{Alg3DES: "3des", AlgAES128: "aes128"}
	fmt.Fprintf(w, "management key: %s\n", names[st.MgmtAlg])
	refs := make([]byte, 0, len(slotObjects))
	for ref := range slotObjects {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i] < refs[j] })
	for _, ref := range refs {
		line := fmt.Sprintf("slot %02X:", ref)
		if der, ok := st.Keys[slotName(ref)]; ok {
			if k, err := parseKey(der); err == nil {
				a, _ := algOf(k)
				line += fmt.Sprintf(" key %s", map[byte]string{AlgRSA2048: "RSA-2048", AlgECCP256: "P-256", AlgECCP384: "P-384"}[a])
			}
		} else {
			line += " no key"
		}
		if obj, ok := st.Objects[objName(slotObjects[ref])]; ok {
			if ts, err := parseTLVs(obj); err == nil {
				if der, ok := find(ts, 0x70); ok {
					if c, err := x509.ParseCertificate(der); err == nil {
						line += ", certificate " + c.Subject.String()
					}
				}
			}
		}
		fmt.Fprintln(w, line)
	}
}

func blocked(n int) string {
	if n == 0 {
		return " (blocked)"
	}
	return ""
}

func cmdRun(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	statePath := fs.String("state", "", "state file (updated as the card changes)")
	addr := fs.String("vpcd", DefaultVPCD, "vpcd reader to connect to, host:port")
	removed := fs.Bool("removed", false, "start with the card out of the reader")
	level := fs.String("log-level", "info", "debug, info or warn (debug logs each APDU's header and status, never its data)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var lv slog.Level
	if *statePath == "" {
		return fmt.Errorf("%w: --state is required", errUsage)
	}
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	card, err := Open(*statePath, Options{Logger: log})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	cmds := make(chan string)
	go func() { // stdin lines
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case cmds <- strings.TrimSpace(sc.Text()):
			case <-ctx.Done():
				return
			}
		}
	}()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)

	want := !*removed
	say := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }
	var retry <-chan time.Time
	waiting := false
	sync := func() { // bring the card where it is wanted
		in, _ := card.Inserted()
		switch {
		case want && !in:
			if err := card.Insert(ctx, *addr); err != nil {
				if !waiting { // once per outage, not every half second
					log.Warn("vcard: reader not reachable; retrying every 0.5s", "err", err)
				}
				waiting = true
				retry = time.After(500 * time.Millisecond)
				return
			}
			waiting = false
			say("inserted %s", *addr)
		case !want && in:
			_ = card.Remove()
			say("removed")
		}
		retry = nil
	}
	sync()
	defer card.Remove()
	for {
		var ended <-chan struct{}
		if in, done := card.Inserted(); in {
			ended = done
		}
		select {
		case <-ctx.Done():
			return nil
		case <-retry:
			sync()
		case <-ended: // the reader went away (pcscd stopped): try again
			say("reader closed the connection")
			retry = time.After(500 * time.Millisecond)
		case s := <-sigs:
			want = s == syscall.SIGUSR2
			sync()
		case line := <-cmds:
			switch line {
			case "insert":
				want = true
				sync()
			case "remove":
				want = false
				sync()
			case "status":
				in, _ := card.Inserted()
				say("inserted: %v", in)
				printStatus(stdout, card.Snapshot())
			case "quit":
				return nil
			case "":
			default:
				say("unknown command %q (insert, remove, status, quit)", line)
			}
		}
	}
}
