package cardagent

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/sessions"
)

// serveCard is the life of one inserted card: open its token, ask for the
// PIN, log in to authd, hold the session and, when the card goes (ctx
// ends), end the session at authd. It returns once that is done.
func (a *Agent) serveCard(ctx context.Context, reader string) {
	a.Board.setState(reader, StateReading, "")
	tok, err := a.tokens.OpenReader(ctx, reader)
	if err != nil {
		a.refuse(ctx, reader, StateRefused, "card", cardError(err))
		return
	}
	defer tok.Close()
	h, err := a.login(ctx, reader, tok)
	if err != nil {
		return // told and waited for removal already
	}
	reason := a.hold(ctx, reader, h)
	a.metrics.activeGauges.Dec()
	switch reason {
	case ReasonAuthdEnded:
		// authd has ended it: nothing to end; the card stays shown as
		// ended until it is removed.
		a.metrics.ended.WithLabelValues(reason).Inc()
		<-ctx.Done()
		a.Board.removed(reader)
		return
	default:
		var removedAt time.Time
		var rm *removal
		if errors.As(context.Cause(ctx), &rm) {
			removedAt = rm.at
		} else {
			reason = ReasonShutdown // the agent stops; the card may still be in
		}
		a.logout(reader, h, removedAt)
		a.Board.ended(reader, h, reason, "", "", true)
	}
	a.metrics.ended.WithLabelValues(reason).Inc()
}

// refuse shows why there is no session for the card in reader and waits
// for its removal.
func (a *Agent) refuse(ctx context.Context, reader, state, outcome string, err error) {
	if ctx.Err() != nil {
		a.Board.removed(reader)
		return
	}
	a.metrics.logins.WithLabelValues(outcome).Inc()
	msg := err.Error()
	a.log.Warn("no session for this card", "reader", reader, "state", state, "err", err)
	a.Board.setState(reader, state, msg)
	a.prompt.Tell(reader, msg)
	<-ctx.Done()
	a.Board.removed(reader)
}

var errRefused = errors.New("refused")

// login asks for the PIN until the card takes it (or locks), then proves
// possession of the card's key to authd, retrying while authd cannot be
// reached.
func (a *Agent) login(ctx context.Context, reader string, tok CardToken) (*held, error) {
	cert, err := tok.AuthCertificate(ctx)
	if err != nil {
		a.refuse(ctx, reader, StateRefused, "card", cardError(err))
		return nil, errRefused
	}
	if tok.Info().PINLocked {
		a.refuse(ctx, reader, StateLocked, "locked", cardError(pkcs11.ErrPINLocked))
		return nil, errRefused
	}
	note := ""
	for {
		a.Board.setState(reader, StatePIN, note)
		p, err := a.prompt.PIN(ctx, reader, note)
		if errors.Is(err, pkcs11.ErrPINFormat) {
			note = "that is not a PIN (6-8 digits); try again"
			continue
		}
		if err != nil {
			a.refuse(ctx, reader, StateRefused, "no_pin", fmt.Errorf("no PIN: %w", err))
			return nil, errRefused
		}
		err = tok.Login(ctx, p)
		if err == nil {
			break
		}
		ce := cardError(err)
		switch {
		case ctx.Err() != nil:
			a.Board.removed(reader)
			return nil, ctx.Err()
		case errors.Is(err, pkcs11.ErrPINLocked):
			a.refuse(ctx, reader, StateLocked, "locked", ce)
			return nil, errRefused
		case errors.Is(err, pkcs11.ErrPINIncorrect):
			ce = cardError(a.triesLeft(err))
			a.metrics.logins.WithLabelValues("wrong_pin").Inc()
			a.log.Info("wrong PIN", "reader", reader, "message", ce.Error())
			note = ce.Error()
		default:
			a.refuse(ctx, reader, StateRefused, "card", ce)
			return nil, errRefused
		}
	}
	signer, err := tok.Signer(ctx)
	if err != nil {
		a.refuse(ctx, reader, StateRefused, "card", cardError(err))
		return nil, errRefused
	}
	a.Board.setState(reader, StateLogin, "")
	bo := a.newBackoff()
	for {
		resp, err := a.present(ctx, cert.Raw, signer)
		if err == nil {
			tokn, perr := sessions.ParseToken(resp.SessionToken)
			if perr != nil {
				a.refuse(ctx, reader, StateRefused, "bad_answer", fmt.Errorf("authd answered with a malformed session token"))
				return nil, errRefused
			}
			a.metrics.logins.WithLabelValues("ok").Inc()
			h := &held{token: tokn, view: SessionView{ExpiresAt: resp.ExpiresAt, User: resp.User,
				RoleProfiles: resp.RoleProfiles, SelectedRoleProfileID: resp.SelectedRoleProfileID}}
			return h, nil
		}
		if ctx.Err() != nil {
			a.Board.removed(reader)
			return nil, ctx.Err()
		}
		if !retryable(err) {
			var ae *APIError
			if errors.As(err, &ae) {
				err = fmt.Errorf("authd refused the login: %s", ae.Code)
			}
			a.refuse(ctx, reader, StateRefused, "refused", err)
			return nil, errRefused
		}
		a.metrics.authdErrors.WithLabelValues("login").Inc()
		d := bo.next()
		a.log.Warn("authd unreachable at login; retrying", "reader", reader, "in", d, "err", err)
		a.Board.setState(reader, StateRetrying, "authd cannot be reached; trying again")
		if wait(ctx, d) != nil {
			a.Board.removed(reader)
			return nil, ctx.Err()
		}
	}
}

// triesLeft fills in the tries left after a wrong PIN when the card's
// flags don't tell. OpenSC reports a PIV card's last try (FINAL_TRY) and
// lock, but not a count below the maximum, which it does not know: a card
// that has just refused a PIN and is at neither has PINTries-1 tries left.
func (a *Agent) triesLeft(err error) error {
	var pe *pkcs11.PINError
	if !errors.As(err, &pe) || pe.RetriesLeft >= 0 || pe.SO || a.opt.PINTries < 3 {
		return err
	}
	return &pkcs11.PINError{RetriesLeft: a.opt.PINTries - 1, Err: pe.Err}
}

// present asks for a challenge, signs it with the card and logs in.
func (a *Agent) present(ctx context.Context, cert []byte, signer crypto.Signer) (*LoginResponse, error) {
	ch, err := a.client.Challenge(ctx)
	if err != nil {
		return nil, err
	}
	sig, err := signChallenge(signer, ch.ToSign)
	if err != nil {
		return nil, cardError(err)
	}
	return a.client.Login(ctx, &LoginRequest{ChallengeID: ch.ChallengeID, Certificate: cert,
		Signature: sig, WorkstationID: a.opt.Workstation})
}

// retryable tells errors worth trying again: no answer, or authd
// overloaded or failing (5xx, 429). A refusal (4xx) is final.
func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusTooManyRequests
	}
	var bad *BadAnswerError
	var ce *CardError
	return !errors.As(err, &bad) && !errors.As(err, &ce)
}

// ended tells whether authd says the session is gone (401).
func ended(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusUnauthorized
}

func (a *Agent) newBackoff() *backoff {
	return &backoff{min: a.opt.RetryMin, max: a.opt.RetryMax}
}

// hold keeps the session alive while the card stays in: it lets the user
// choose a role profile when there are several, then checks the session at
// authd (which refreshes its idle time-out) at least twice per idle
// time-out. It returns the reason the session ended: the card left (ctx
// ended) or authd ended it (401).
func (a *Agent) hold(ctx context.Context, reader string, h *held) string {
	a.metrics.activeGauges.Inc()
	a.refresh(ctx, h) // the session id and idle time-out; failure is retried below
	a.Board.started(reader, h)
	a.log.Info("session started", "reader", reader, "session", h.view.SessionID, "uid", h.view.User.UID)
	if h.view.SelectedRoleProfileID == "" && len(h.view.RoleProfiles) > 1 {
		if r := a.chooseRole(ctx, reader, h); r != "" {
			return r
		}
	}
	bo := a.newBackoff()
	next := a.interval(h)
	for {
		if wait(ctx, next) != nil {
			return ReasonCardRemoved
		}
		err := a.refresh(ctx, h)
		switch {
		case err == nil:
			bo.reset()
			a.Board.refreshed(reader, h, StateActive, "")
			next = a.interval(h)
		case ctx.Err() != nil:
			return ReasonCardRemoved
		case ended(err):
			return a.endedByAuthd(reader, h, err)
		default:
			a.metrics.authdErrors.WithLabelValues("session").Inc()
			next = bo.next()
			a.log.Warn("authd unreachable; keeping the session and retrying", "reader", reader, "session", h.view.SessionID, "in", next, "err", err)
			a.Board.refreshed(reader, h, StateRetrying, "authd cannot be reached; trying again")
		}
	}
}

// endedByAuthd drops a session authd no longer has and tells the user.
func (a *Agent) endedByAuthd(reader string, h *held, err error) string {
	code := "session_invalid"
	var ae *APIError
	if errors.As(err, &ae) {
		code = ae.Code
	}
	msg := fmt.Sprintf("authd ended the session (%s); remove and insert the card to log in again", code)
	a.log.Info("session ended by authd", "reader", reader, "session", h.view.SessionID, "code", code)
	a.Board.ended(reader, h, ReasonAuthdEnded, StateEnded, msg, false)
	a.prompt.Tell(reader, msg)
	return ReasonAuthdEnded
}

// chooseRole asks the user for a role profile and selects it at authd. It
// returns a reason when the session ended meanwhile.
func (a *Agent) chooseRole(ctx context.Context, reader string, h *held) string {
	a.Board.refreshed(reader, h, StateRole, "")
	id, err := a.prompt.ChooseRole(ctx, reader, h.view.RoleProfiles)
	if ctx.Err() != nil {
		return ReasonCardRemoved
	}
	if err != nil || id == "" {
		if err != nil {
			a.prompt.Tell(reader, err.Error())
		}
		a.Board.refreshed(reader, h, StateActive, "no role profile selected")
		return ""
	}
	bo := a.newBackoff()
	for {
		v, err := a.client.SelectRole(ctx, h.token.Encode(), id)
		switch {
		case err == nil:
			h.view = *v
			a.Board.refreshed(reader, h, StateActive, "")
			a.log.Info("role profile selected", "reader", reader, "session", h.view.SessionID, "role_profile", id)
			return ""
		case ctx.Err() != nil:
			return ReasonCardRemoved
		case ended(err):
			return a.endedByAuthd(reader, h, err)
		case !retryable(err):
			a.prompt.Tell(reader, "authd refused the role profile: "+err.Error())
			a.Board.refreshed(reader, h, StateActive, "no role profile selected")
			return ""
		}
		a.metrics.authdErrors.WithLabelValues("role").Inc()
		if wait(ctx, bo.next()) != nil {
			return ReasonCardRemoved
		}
	}
}

// refresh reads the session at authd into h.
func (a *Agent) refresh(ctx context.Context, h *held) error {
	v, err := a.client.Session(ctx, h.token.Encode())
	if err != nil {
		return err
	}
	h.view = *v
	return nil
}

// interval is the time to the next session check: Refresh, but at most
// half the time left before the idle time-out, counted on authd's clock
// (its Date header) when it gives one, so that a workstation clock ahead
// of authd's cannot make the agent check in a tight loop. Never under a
// second (or Refresh, if shorter).
func (a *Agent) interval(h *held) time.Duration {
	d := a.opt.Refresh
	if idle := h.view.IdleExpiresAt; !idle.IsZero() {
		now := h.view.serverTime
		if now.IsZero() {
			now = a.now()
		}
		d = min(d, idle.Sub(now)/2)
	}
	return max(d, min(a.opt.Refresh, time.Second))
}

// logout ends the session at authd after the card left, retrying with
// back-off for up to LogoutTimeout while authd cannot be reached.
func (a *Agent) logout(reader string, h *held, removedAt time.Time) {
	ctx, cancel := context.WithTimeout(a.stopping, a.opt.LogoutTimeout)
	defer cancel()
	bo := &backoff{min: min(a.opt.RetryMin, 100*time.Millisecond), max: a.opt.RetryMax}
	for {
		err := a.client.Logout(ctx, h.token.Encode())
		if err == nil || ended(err) {
			var took time.Duration
			if !removedAt.IsZero() {
				took = a.now().Sub(removedAt)
				a.metrics.logoutTime.Observe(took.Seconds())
			}
			a.log.Info("session ended at authd", "reader", reader, "session", h.view.SessionID, "after", took)
			return
		}
		if !retryable(err) {
			a.log.Error("authd refused to end the session", "reader", reader, "session", h.view.SessionID, "err", err)
			return
		}
		a.metrics.authdErrors.WithLabelValues("logout").Inc()
		d := bo.next()
		if wait(ctx, d) != nil {
			a.log.Error("could not end the session at authd; it ends at its idle time-out", "reader", reader, "session", h.view.SessionID, "err", err)
			return
		}
	}
}
