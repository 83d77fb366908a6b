package pdp

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/policy"
	"github.com/carespine/spineauth/registration"
	policies "github.com/carespine/spineauth/rego"
	"github.com/carespine/spineauth/sessions"
)

// These tests drive a batch's answers through the stores failing in the
// ways the end-to-end tests cannot arrange: the real policy over the
// embedded Rego, real in-memory sessions, and fakes of the registration
// store and the decision log that fail on demand.

var answerNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

const (
	answerUID     = "555000000011"
	answerProfile = "555000001101"
	answerPatient = "9990001235"
)

// alertStore is the registration store: one role profile that may view
// the summary record and access it in an emergency, no patient facts.
type alertStore struct {
	fail  error
	mu    sync.Mutex
	calls [][]registration.Alert
}

func (f *alertStore) DecisionFacts(_ context.Context, profileIDs, nhsNumbers []string) (*registration.DecisionFacts, error) {
	df := &registration.DecisionFacts{Profiles: map[string]*registration.RoleProfile{},
		Patients: map[string]*registration.PatientFacts{}}
	for _, id := range profileIDs {
		if id == answerProfile {
			df.Profiles[id] = &registration.RoleProfile{ID: id, UID: answerUID, ODS: "Y12345", JobRole: "R8000",
				Activities: []string{"B0168", "B0370"}, Start: answerNow.Add(-time.Hour), Status: registration.RoleProfileActive}
		}
	}
	for _, nhs := range nhsNumbers {
		df.Patients[nhs] = &registration.PatientFacts{NHSNumber: nhs, Relationships: []registration.Relationship{},
			Seals: []registration.Seal{}}
	}
	return df, nil
}

func (f *alertStore) CreateAlerts(_ context.Context, alerts []registration.Alert) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, alerts)
	return f.fail
}

// recordingLog is the decision log; it fails the records failFor picks.
type recordingLog struct {
	failFor func(d policy.Decision, sync bool) bool
	mu      sync.Mutex
	calls   int
	synced  []string // IDs recorded with sync
}

func (l *recordingLog) Record(ctx context.Context, d policy.Decision, sync bool) error {
	return l.RecordAll(ctx, []policy.Decision{d}, []bool{sync})[0]
}

func (l *recordingLog) RecordAll(_ context.Context, ds []policy.Decision, sync []bool) []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	errs := make([]error, len(ds))
	for i, d := range ds {
		if l.failFor != nil && l.failFor(d, sync[i]) {
			errs[i] = errors.New("disk full (test)")
			continue
		}
		if sync[i] {
			l.synced = append(l.synced, d.ID)
		}
	}
	return errs
}

func (l *recordingLog) Close() error { return nil }

func newAnswerService(t *testing.T, st *alertStore, log *recordingLog) (*Service, string) {
	t.Helper()
	sub, err := fs.Sub(policies.FS, "access")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.New(t.Context(), policy.Config{Source: policy.FSSource(sub),
		Queries: map[string]string{AccessQuery: "data.spine.access.decision"}, Now: func() time.Time { return answerNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	mem := sessions.NewMemory(sessions.Config{Now: func() time.Time { return answerNow }})
	t.Cleanup(func() { _ = mem.Close() })
	tok, _, err := mem.Create(t.Context(), sessions.Session{UserID: answerUID, CardID: "card-1", CertSerial: "01",
		RoleProfileID: answerProfile})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Deps{Sessions: mem, Facts: st, Catalogue: registration.DefaultCatalogue(), Policy: eng, Log: log,
		Now: func() time.Time { return answerNow }})
	if err != nil {
		t.Fatal(err)
	}
	return svc, tok.Encode()
}

// question asks to view the patient's summary record; reason, when not
// empty, makes it an emergency access (allowed, with an alert).
func answerQuestion(tok, reason string) EvaluationRequest {
	ctx := map[string]any{"purpose": "direct_care"}
	if reason != "" {
		ctx = map[string]any{"purpose": "emergency", "reason": reason}
	}
	return EvaluationRequest{
		Subject:  &Entity{Type: "session", ID: tok},
		Action:   &Action{Name: "view"},
		Resource: &Entity{Type: "patient_record", ID: answerPatient, Properties: map[string]any{"section": "scr"}},
		Context:  ctx,
	}
}

// verdicts is each answer as "allow" or its reason codes, with "+alert"
// for an alert obligation that names a stored alert.
func verdicts(out []EvaluationResponse) []string {
	var v []string
	for _, r := range out {
		s := "allow"
		if !r.Decision {
			s = "deny " + slices.Concat(r.Context.ReasonCodes)[0]
		}
		for _, o := range r.Context.Obligations {
			if o.AlertID != "" {
				s += "+alert"
			}
		}
		v = append(v, s)
	}
	return v
}

func TestBatchStoresAlertsInOneTransaction(t *testing.T) {
	st, log := &alertStore{}, &recordingLog{}
	svc, tok := newAnswerService(t, st, log)
	out := svc.EvaluateBatch(t.Context(), "test", []EvaluationRequest{
		answerQuestion(tok, "collapsed"), answerQuestion(tok, ""), answerQuestion(tok, "collapsed again"),
		answerQuestion(tok, "unconscious"),
	})
	if got, want := verdicts(out), []string{"allow+alert", "deny no_legitimate_relationship", "allow+alert", "allow+alert"}; !slices.Equal(got, want) {
		t.Fatalf("answers %v, want %v", got, want)
	}
	if len(st.calls) != 1 || len(st.calls[0]) != 3 {
		t.Fatalf("CreateAlerts calls: %v; want one with three alerts", st.calls)
	}
	for k, i := range []int{0, 2, 3} {
		a := st.calls[0][k]
		if a.ID != out[i].Context.Obligations[0].AlertID || a.DecisionID != out[i].Context.ID || a.Type != registration.AlertEmergencyAccess {
			t.Errorf("alert %d = %+v; answer %+v", k, a, out[i])
		}
	}
	// One RecordAll for the batch; the three emergencies owed a commit.
	if log.calls != 1 || !slices.Equal(log.synced, []string{out[0].Context.ID, out[2].Context.ID, out[3].Context.ID}) {
		t.Errorf("RecordAll calls %d, synced %v", log.calls, log.synced)
	}
}

func TestBatchAlertFailures(t *testing.T) {
	t.Run("the transaction fails: every answer owing an alert is a deny", func(t *testing.T) {
		st := &alertStore{fail: errors.New("database is locked (test)")}
		svc, tok := newAnswerService(t, st, &recordingLog{})
		out := svc.EvaluateBatch(t.Context(), "test", []EvaluationRequest{
			answerQuestion(tok, "collapsed"), answerQuestion(tok, ""), answerQuestion(tok, "collapsed again"),
		})
		if got, want := verdicts(out), []string{"deny internal_error", "deny no_legitimate_relationship", "deny internal_error"}; !slices.Equal(got, want) {
			t.Fatalf("answers %v, want %v", got, want)
		}
	})
	t.Run("one alert fails its checks: only its answer is a deny", func(t *testing.T) {
		st := &alertStore{}
		svc, tok := newAnswerService(t, st, &recordingLog{})
		out := svc.EvaluateBatch(t.Context(), "test", []EvaluationRequest{
			answerQuestion(tok, "collapsed\nin reception"), answerQuestion(tok, "collapsed"),
		})
		if got, want := verdicts(out), []string{"deny internal_error", "allow+alert"}; !slices.Equal(got, want) {
			t.Fatalf("answers %v, want %v", got, want)
		}
		if len(st.calls) != 1 || len(st.calls[0]) != 1 || st.calls[0][0].DecisionID != out[1].Context.ID {
			t.Errorf("CreateAlerts calls: %v", st.calls)
		}
	})
}

func TestBatchRecordFailures(t *testing.T) {
	// The log refuses every emergency record and the plain deny's.
	log := &recordingLog{failFor: func(d policy.Decision, sync bool) bool { return sync || !d.Allow }}
	svc, tok := newAnswerService(t, &alertStore{}, log)
	out := svc.EvaluateBatch(t.Context(), "test", []EvaluationRequest{
		answerQuestion(tok, "collapsed"), answerQuestion(tok, ""),
	})
	// An allow that could not be recorded is refused; a deny stays a deny.
	if got, want := verdicts(out), []string{"deny internal_error", "deny no_legitimate_relationship"}; !slices.Equal(got, want) {
		t.Fatalf("answers %v, want %v", got, want)
	}
}
