package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/carespine/spineauth/authd/login"
	"github.com/carespine/spineauth/registration"
)

// Sessions exist only in authd (memory or Redis) and only a login makes
// one, so the harness logs in with the test PKI's good cards, exactly as
// cardagent would: ask for a challenge, sign it with the card's key,
// present the certificate, then pick a role profile.

// sessionKind is one kind of user session the benchmark holds.
type sessionKind struct {
	name    string
	fixture string // test PKI card: <fixture>.pem and <fixture>.key
	profile string // role profile to select; "" leaves none selected
}

// sessionKinds, repeated in this order: mostly clinicians who can read
// records, some RA and privacy staff who cannot, and a session without a
// selected role (no_role_selected).
var sessionKinds = []sessionKind{
	{"alice-practice", "card-555000000011-rsa", registration.DemoAlicePracticeProfile},
	{"alice-trust", "card-555000000011-ec", registration.DemoAliceTrustProfile},
	{"bob-trust", "card-555000000012-ec", registration.DemoBobTrustProfile},
	{"alice-practice", "card-555000000011-ec", registration.DemoAlicePracticeProfile},
	{"bob-trust", "card-555000000012-rsa", registration.DemoBobTrustProfile},
	{"alice-trust", "card-555000000011-rsa", registration.DemoAliceTrustProfile},
	{"carol-sponsor", "card-555000000013-rsa", registration.DemoCarolSponsorProfile},
	{"alice-practice", "card-555000000011-rsa", registration.DemoAlicePracticeProfile},
	{"bob-trust", "card-555000000012-ec", registration.DemoBobTrustProfile},
	{"dan-practice", "card-555000000014-ec", registration.DemoDanPracticeProfile},
	{"alice-trust", "card-555000000011-ec", registration.DemoAliceTrustProfile},
	{"alice-no-role", "card-555000000011-rsa", ""},
}

// benchSession is a logged-in session.
type benchSession struct {
	Token   string // the bearer secret; never printed
	UID     string
	Profile string // selected role profile ID, or ""
	Kind    string
	// Activities is authd's view of the selected profile's activities
	// (the closure), to check the OPA data against.
	Activities []string
}

// authdClient calls authd's login API.
type authdClient struct {
	base   string
	client *http.Client
}

// card is a test PKI card: its certificate and key.
type card struct {
	cert   *x509.Certificate
	signer crypto.Signer
}

func loadCard(pkiDir, fixture string) (*card, error) {
	cert, err := readCert(filepath.Join(pkiDir, fixture+".pem"))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(pkiDir, fixture+".key"))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s.key: no PKCS#8 PRIVATE KEY block", fixture)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s.key: %w", fixture, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s.key: %T is not a crypto.Signer", fixture, key)
	}
	return &card{cert: cert, signer: signer}, nil
}

// login runs challenge, sign and login for one card.
func (a *authdClient) login(ctx context.Context, c *card, chain [][]byte, workstation string) (*login.Response, error) {
	var ch login.Challenge
	if err := a.call(ctx, http.MethodPost, "/v1/login/challenge", "", nil, &ch); err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	sig, err := login.SignChallenge(c.signer, ch.ToSign)
	if err != nil {
		return nil, fmt.Errorf("signing the challenge: %w", err)
	}
	req := login.Request{
		ChallengeID:   ch.ChallengeID,
		Certificate:   c.cert.Raw,
		Chain:         chain,
		Signature:     sig,
		WorkstationID: workstation,
	}
	var resp login.Response
	if err := a.call(ctx, http.MethodPost, "/v1/login", "", req, &resp); err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return &resp, nil
}

// selectRole makes profile the session's role profile.
func (a *authdClient) selectRole(ctx context.Context, token, profile string) (*login.SessionView, error) {
	var v login.SessionView
	body := map[string]string{"role_profile_id": profile}
	if err := a.call(ctx, http.MethodPut, "/v1/session/role", token, body, &v); err != nil {
		return nil, fmt.Errorf("selecting role profile %s: %w", profile, err)
	}
	return &v, nil
}

// call makes one JSON request; refusals become errors with authd's code.
func (a *authdClient) call(ctx context.Context, method, path, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error, Message string }
		_ = json.Unmarshal(data, &e)
		if e.Error != "" {
			return fmt.Errorf("%s %s: %d %s: %s", method, path, resp.StatusCode, e.Error, e.Message)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return json.Unmarshal(data, out)
}

// loginSessions makes n sessions, cycling through sessionKinds.
func loginSessions(ctx context.Context, a *authdClient, pkiDir string, n int) ([]benchSession, error) {
	subca, err := readCert(filepath.Join(pkiDir, "subca.pem"))
	if err != nil {
		return nil, err
	}
	chain := [][]byte{subca.Raw}
	cards := map[string]*card{}
	var out []benchSession
	for i := range n {
		k := sessionKinds[i%len(sessionKinds)]
		c, ok := cards[k.fixture]
		if !ok {
			if c, err = loadCard(pkiDir, k.fixture); err != nil {
				return nil, err
			}
			cards[k.fixture] = c
		}
		resp, err := a.login(ctx, c, chain, fmt.Sprintf("pdpbench-ws-%03d", i))
		if err != nil {
			return nil, fmt.Errorf("session %d (%s): %w", i, k.name, err)
		}
		s := benchSession{Token: resp.SessionToken, UID: resp.User.UID, Profile: resp.SelectedRoleProfileID, Kind: k.name}
		profiles := resp.RoleProfiles
		if k.profile != "" && s.Profile != k.profile {
			v, err := a.selectRole(ctx, s.Token, k.profile)
			if err != nil {
				return nil, fmt.Errorf("session %d (%s): %w", i, k.name, err)
			}
			s.Profile, profiles = v.SelectedRoleProfileID, v.RoleProfiles
		}
		if s.Profile != k.profile {
			return nil, fmt.Errorf("session %d (%s): authd selected role profile %q, want %q", i, k.name, s.Profile, k.profile)
		}
		for _, p := range profiles {
			if p.ID == s.Profile {
				s.Activities = p.Activities
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// sessionSummary says which kinds of session were made (no tokens).
func sessionSummary(ss []benchSession) string {
	counts := map[string]int{}
	var order []string
	for _, s := range ss {
		if counts[s.Kind] == 0 {
			order = append(order, s.Kind)
		}
		counts[s.Kind]++
	}
	parts := make([]string, len(order))
	for i, k := range order {
		parts[i] = fmt.Sprintf("%s×%d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}
