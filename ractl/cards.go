package ractl

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/carespine/spineauth/authd/ra"
	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/registration"
)

func cardCmd(ctx context.Context, c *client, args []string) error {
	if len(args) == 0 {
		return usagef("card: issue, renew, cancel or unlock")
	}
	switch args[0] {
	case "issue", "renew":
		return cardKey(ctx, c, args[0], args[1:])
	case "cancel":
		fs := flag.NewFlagSet("card cancel", flag.ContinueOnError)
		var req ra.CancelBody
		fs.StringVar(&req.Reason, "reason", "", "why")
		fs.StringVar(&req.RevocationReason, "revocation-reason", "", "RFC 5280 reason (keyCompromise for a lost card)")
		pos, err := parse(fs, args[1:], 1)
		if err != nil {
			return err
		}
		if err := required("reason", req.Reason); err != nil {
			return err
		}
		var out ra.CancelAnswer
		raw, err := c.do(ctx, "POST", "/v1/ra/cards/"+pathArg(pos[0])+"/cancel", req, &out)
		if err != nil {
			return err
		}
		c.show(raw, func(w io.Writer) {
			fmt.Fprintf(w, "card %s cancelled; certificates revoked: %s; sessions ended: %d\n",
				out.Card.ID, strings.Join(out.Revoked, ", "), out.SessionsEnded)
		})
		return nil
	case "unlock":
		return cardUnlock(ctx, c, args[1:])
	}
	return usagef("card: unknown subcommand %q", args[0])
}

// tokenFlags select a card through PKCS#11.
type tokenFlags struct {
	module, token, pinFile string
}

func (t *tokenFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&t.module, "module", "", "PKCS#11 module (e.g. opensc-pkcs11.so)")
	fs.StringVar(&t.token, "token", "", "token label of the card")
	fs.StringVar(&t.pinFile, "pin-file", "", "read the card's PIN from this `file`")
}

func (t *tokenFlags) open(ctx context.Context) (*pkcs11.Module, *pkcs11.Token, error) {
	if t.module == "" || t.token == "" {
		return nil, nil, usagef("--module and --token are required")
	}
	mod, err := pkcs11.Open(t.module)
	if err != nil {
		return nil, nil, err
	}
	tok, err := mod.OpenToken(ctx, pkcs11.Selector{Label: t.token})
	if err != nil {
		mod.Close()
		return nil, nil, err
	}
	return mod, tok, nil
}

func readPINFile(flagName, path string) (pkcs11.PIN, error) {
	if path == "" {
		return pkcs11.PIN{}, usagef("--%s is required", flagName)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return pkcs11.PIN{}, usagef("--%s: %v", flagName, err)
	}
	p, err := pkcs11.NewPIN(strings.TrimRight(string(b), "\r\n"))
	if err != nil {
		return pkcs11.PIN{}, usagef("--%s: %v", flagName, err)
	}
	return p, nil
}

// cardKey issues (for a person) or renews (a card): a key pair is made on
// the card, its public key certified by authd's CA, and the certificate
// written beside it. If authd refuses, the new key pair is removed.
func cardKey(ctx context.Context, c *client, verb string, args []string) error {
	fs := flag.NewFlagSet("card "+verb, flag.ContinueOnError)
	var tf tokenFlags
	tf.add(fs)
	keyType := fs.String("key-type", "ecp256", "key pair to make on the card: ecp256 or rsa2048")
	reason := fs.String("reason", "", "why")
	replace := fs.String("replace-id", "", "renew: the CKA_ID (hex) of the key pair the new one replaces, removed once the new certificate is written")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	kt, err := pkcs11.ParseKeyType(*keyType)
	if err != nil {
		return usagef("--key-type: %v", err)
	}
	var oldID []byte
	if *replace != "" {
		if verb != "renew" {
			return usagef("--replace-id is for renew")
		}
		if oldID, err = hex.DecodeString(*replace); err != nil || len(oldID) == 0 {
			return usagef("--replace-id must be hex")
		}
	}
	pin, err := readPINFile("pin-file", tf.pinFile)
	if err != nil {
		return err
	}
	mod, tok, err := tf.open(ctx)
	if err != nil {
		return err
	}
	defer mod.Close()
	defer tok.Close()
	if err := tok.Login(ctx, pin); err != nil {
		return err
	}
	kp, err := tok.GenerateKey(ctx, pkcs11.KeySpec{Type: kt, Label: "Authentication"})
	if err != nil {
		return err
	}
	spki, err := x509.MarshalPKIXPublicKey(kp.Public)
	if err != nil {
		return err
	}
	path := "/v1/ra/people/" + pathArg(pos[0]) + "/cards"
	if verb == "renew" {
		path = "/v1/ra/cards/" + pathArg(pos[0]) + "/renew"
	}
	var out ra.CardAnswer
	raw, err := c.do(ctx, "POST", path, ra.KeyBody{PublicKey: spki, Reason: *reason}, &out)
	if err != nil {
		if _, derr := tok.DeleteObjects(context.WithoutCancel(ctx), kp.ID); derr != nil {
			err = errors.Join(err, fmt.Errorf("removing the unused key pair: %w", derr))
		}
		return err
	}
	cert, err := x509.ParseCertificate(out.Certificate)
	if err != nil {
		return fmt.Errorf("authd's certificate does not parse: %w", err)
	}
	if err := tok.WriteCertificate(ctx, kp.ID, kp.Label, cert); err != nil {
		return fmt.Errorf("card %s was certified but the certificate could not be written to the card (cancel it): %w", out.Card.ID, err)
	}
	if oldID != nil {
		if _, err := tok.DeleteObjects(ctx, oldID); err != nil {
			return fmt.Errorf("the renewed certificate is on the card, but the old key pair could not be removed: %w", err)
		}
	}
	c.show(raw, func(w io.Writer) {
		fmt.Fprintf(w, "card %s for %s: certificate %s (%s) until %s written to token %s, key id %x\n",
			out.Card.ID, out.Card.UID, out.Card.CertSerial, kt, out.Card.CertNotAfter.Format("2006-01-02"), tf.token, kp.ID)
	})
	return nil
}

// cardUnlock asks authd to authorise (and audit) the unlock, then resets
// the card's PIN with its security officer PIN, which restores the retry
// counter.
func cardUnlock(ctx context.Context, c *client, args []string) error {
	fs := flag.NewFlagSet("card unlock", flag.ContinueOnError)
	var tf tokenFlags
	tf.add(fs)
	soFile := fs.String("so-pin-file", "", "read the card's security officer PIN from this `file`")
	newFile := fs.String("new-pin-file", "", "read the new user PIN from this `file`")
	var req ra.ReasonBody
	fs.StringVar(&req.Reason, "reason", "", "why")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if err := required("reason", req.Reason); err != nil {
		return err
	}
	so, err := readPINFile("so-pin-file", *soFile)
	if err != nil {
		return err
	}
	newPIN, err := readPINFile("new-pin-file", *newFile)
	if err != nil {
		return err
	}
	mod, tok, err := tf.open(ctx)
	if err != nil {
		return err
	}
	defer mod.Close()
	defer tok.Close()
	cert, err := tok.AuthCertificate(ctx)
	if err != nil {
		return err
	}
	serial, err := registration.SerialHex(cert.SerialNumber)
	if err != nil {
		return err
	}
	var out struct {
		Card ra.CardView `json:"card"`
	}
	if _, err := c.do(ctx, "POST", "/v1/ra/cards/"+pathArg(pos[0])+"/unlock", req, &out); err != nil {
		return err
	}
	// The card in the reader must be the one authorised.
	if out.Card.CertSerial != serial {
		return fmt.Errorf("the card in %s is not card %s; nothing was reset", tf.token, pos[0])
	}
	if err := tok.InitPIN(ctx, so, newPIN); err != nil {
		return fmt.Errorf("authorised, but the card refused the reset: %w", err)
	}
	fmt.Fprintf(c.out, "card %s unlocked: new PIN set, retry counter restored\n", pos[0])
	return nil
}
