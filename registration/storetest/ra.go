package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

// The registration authority's audited writes (registration.RA): each
// change and its audit entry are one transaction, so a refused change
// leaves no entry, and the chain verifies after every test.

const raAgentUID = approverUID // the RA member acting in these tests

func runRA(t *testing.T, open func(t *testing.T) registration.Store) {
	t.Run("RegisterPerson", func(t *testing.T) { testRegisterPerson(t, open) })
	t.Run("UpdatePerson", func(t *testing.T) { testUpdatePerson(t, open) })
	t.Run("FindPeople", func(t *testing.T) { testFindPeople(t, open) })
	t.Run("RoleProfileApproval", func(t *testing.T) { testRoleProfileApproval(t, open) })
	t.Run("AuditByContext", func(t *testing.T) { testAuditByContext(t, open) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
	t.Run("AuditConcurrent", func(t *testing.T) { testAuditConcurrent(t, open) })
}

func entry(action, subject string) registration.AuditEntry {
	return registration.AuditEntry{ActorUID: raAgentUID, Action: action, SubjectUID: subject, Reason: "test " + action}
}

// auditCount returns how many entries the chain holds, checking it.
func auditCount(t *testing.T, s registration.Store) int64 {
	t.Helper()
	n, err := s.VerifyAudit(context.Background())
	if err != nil {
		t.Fatalf("VerifyAudit: %v", err)
	}
	head, err := s.AuditHead(context.Background())
	ok(t, err)
	if head.Seq != n {
		t.Fatalf("head seq %d, verified %d entries", head.Seq, n)
	}
	return n
}

func newcomer(uid string) (registration.Person, registration.IdentityCheck) {
	return registration.Person{UID: uid, Name: "New Starter " + uid[10:], Status: registration.PersonActive, CreatedAt: t0},
		registration.IdentityCheck{UID: uid, ODS: trustODS, DocumentType: registration.DocPassport,
			DocumentRef: "P1234567", CheckedBy: raAgentUID, CheckedAt: t0}
}

func testRegisterPerson(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	world(t, s)
	const uid = "900000000010"
	p, check := newcomer(uid)
	ok(t, s.RegisterPerson(ctx, p, check, entry("register_person", uid)))
	got, err := s.Person(ctx, uid)
	ok(t, err)
	same(t, got.Version, 1)
	checks, err := s.IdentityChecks(ctx, uid)
	ok(t, err)
	if len(checks) != 1 || checks[0].DocumentType != registration.DocPassport || checks[0].DocumentRef != "P1234567" ||
		checks[0].CheckedBy != raAgentUID || checks[0].ODS != trustODS || !checks[0].CheckedAt.Equal(us(t0)) {
		t.Fatalf("identity checks %+v", checks)
	}
	orgs, err := s.PersonOrganisations(ctx, uid)
	ok(t, err)
	same(t, orgs, []string{trustODS})
	entries, err := s.AuditEntries(ctx, registration.AuditFilter{SubjectUID: uid})
	ok(t, err)
	if len(entries) != 1 || entries[0].Action != "register_person" || entries[0].Outcome != registration.AuditDone ||
		entries[0].ActorUID != raAgentUID || entries[0].Seq != 1 || entries[0].PrevHash != registration.ZeroHash {
		t.Fatalf("audit entries %+v", entries)
	}
	same(t, auditCount(t, s), int64(1))

	// Refusals write nothing: neither the person nor the audit entry.
	wantKind(t, s.RegisterPerson(ctx, p, check, entry("register_person", uid)), registration.ErrExists)
	p2, check2 := newcomer("900000000011")
	check2.ODS = "ZZZ99"
	wantKind(t, s.RegisterPerson(ctx, p2, check2, entry("register_person", p2.UID)), registration.ErrInvalid)
	_, err = s.Person(ctx, p2.UID)
	wantKind(t, err, registration.ErrNotFound)
	check2.ODS, check2.CheckedBy = trustODS, p2.UID
	wantKind(t, s.RegisterPerson(ctx, p2, check2, entry("register_person", p2.UID)), registration.ErrInvalid)
	check2.CheckedBy, check2.DocumentType = raAgentUID, "library_card"
	wantKind(t, s.RegisterPerson(ctx, p2, check2, entry("register_person", p2.UID)), registration.ErrInvalid)
	check2.DocumentType = registration.DocDrivingLicence
	bad := entry("Register Person", p2.UID)
	wantKind(t, s.RegisterPerson(ctx, p2, check2, bad), registration.ErrInvalid)
	_, err = s.Person(ctx, p2.UID)
	wantKind(t, err, registration.ErrNotFound)
	same(t, auditCount(t, s), int64(1))

	_, err = s.IdentityChecks(ctx, "900000000099")
	wantKind(t, err, registration.ErrNotFound)
	_, err = s.PersonOrganisations(ctx, "9000")
	wantKind(t, err, registration.ErrInvalid)
}

func testUpdatePerson(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	world(t, s)
	const uid = "900000000010"
	p, check := newcomer(uid)
	ok(t, s.RegisterPerson(ctx, p, check, entry("register_person", uid)))

	edit := registration.Person{UID: uid, Name: "New Starter-Smith", Status: registration.PersonActive, Version: 1}
	got, err := s.UpdatePerson(ctx, edit, entry("update_person", uid))
	ok(t, err)
	if got.Version != 2 || got.Name != edit.Name {
		t.Fatalf("updated %+v", got)
	}
	// A second edit made from the same read is stale: refused, not lost.
	stale := edit
	stale.Name = "Someone Else"
	_, err = s.UpdatePerson(ctx, stale, entry("update_person", uid))
	wantKind(t, err, registration.ErrConflict)
	read, err := s.Person(ctx, uid)
	ok(t, err)
	if read.Name != edit.Name || read.Version != 2 {
		t.Fatalf("after a stale edit: %+v", read)
	}
	same(t, auditCount(t, s), int64(2))

	// Racing edits from the same version: exactly one wins.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			e := registration.Person{UID: uid, Name: fmt.Sprintf("Racer %d", i), Status: registration.PersonActive, Version: 2}
			_, err := s.UpdatePerson(ctx, e, entry("update_person", uid))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, registration.ErrConflict):
			t.Errorf("loser: %v, want ErrConflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d racing edits succeeded, want 1", won)
	}
	read, err = s.Person(ctx, uid)
	ok(t, err)
	same(t, read.Version, 3)
	same(t, auditCount(t, s), int64(3))

	_, err = s.UpdatePerson(ctx, registration.Person{UID: "900000000099", Name: "X", Status: registration.PersonActive, Version: 1},
		entry("update_person", "900000000099"))
	wantKind(t, err, registration.ErrNotFound)
	_, err = s.UpdatePerson(ctx, registration.Person{UID: uid, Name: "X", Status: "gone", Version: 3}, entry("update_person", uid))
	wantKind(t, err, registration.ErrInvalid)
	_, err = s.UpdatePerson(ctx, registration.Person{UID: uid, Name: "X", Status: registration.PersonActive}, entry("update_person", uid))
	wantKind(t, err, registration.ErrInvalid)
}

func testFindPeople(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	world(t, s)
	p, check := newcomer("900000000010")
	p.Name = "Ann 100% O_Neil"
	ok(t, s.RegisterPerson(ctx, p, check, entry("register_person", p.UID)))
	byName := func(name string) []string {
		t.Helper()
		ps, err := s.FindPeople(ctx, registration.PersonFilter{Name: name})
		ok(t, err)
		var uids []string
		for _, p := range ps {
			uids = append(uids, p.UID)
		}
		return uids
	}
	same(t, byName("ann 100% o_n"), []string{p.UID})
	same(t, byName("100%"), []string{p.UID})
	same(t, byName("1000"), []string(nil))   // % is not a wildcard
	same(t, byName("O%Neil"), []string(nil)) // nor _ (as written) matches other text
	same(t, byName("person 9000"), []string{holderUID, approverUID, otherUID})
	ps, err := s.FindPeople(ctx, registration.PersonFilter{ODS: trustODS})
	ok(t, err)
	if len(ps) != 1 || ps[0].UID != p.UID {
		t.Fatalf("by organisation: %+v", ps)
	}
	ps, err = s.FindPeople(ctx, registration.PersonFilter{Name: "Person", ODS: trustODS})
	ok(t, err)
	same(t, len(ps), 0)
	ps, err = s.FindPeople(ctx, registration.PersonFilter{Name: "Person", Limit: 2})
	ok(t, err)
	same(t, len(ps), 2)
	for _, f := range []registration.PersonFilter{{}, {Name: "a\x00"}, {ODS: "bad"}, {Name: "x", Limit: 201}} {
		_, err := s.FindPeople(ctx, f)
		wantKind(t, err, registration.ErrInvalid)
	}
}

func pendingProfile(id, uid string) registration.RoleProfile {
	return registration.RoleProfile{ID: id, UID: uid, ODS: trustODS, JobRole: "S8000:G8000:R8001",
		Activities: []string{"B0370"}, Start: t0, Status: registration.RoleProfilePending, CreatedAt: t0}
}

func testRoleProfileApproval(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	world(t, s)
	const id = "900000000101"
	rp := pendingProfile(id, holderUID)
	req := registration.RoleProfileRequest{RoleProfileID: id, RequestedBy: raAgentUID, Reason: "new starter on ward 7"}
	ok(t, s.RequestRoleProfile(ctx, rp, req, entry("request_role_profile", holderUID)))
	got, err := s.RoleProfileRequest(ctx, id)
	ok(t, err)
	if got.RequestedBy != raAgentUID || got.Reason != req.Reason {
		t.Fatalf("request %+v", got)
	}
	pending, err := s.PendingRoleProfiles(ctx, trustODS)
	ok(t, err)
	if len(pending) != 1 || pending[0].ID != id {
		t.Fatalf("pending %+v", pending)
	}
	pending, err = s.PendingRoleProfiles(ctx, practiceODS)
	ok(t, err)
	same(t, len(pending), 0)
	orgs, err := s.PersonOrganisations(ctx, holderUID)
	ok(t, err)
	same(t, orgs, []string{trustODS})

	// Two people: neither the requester nor the holder approves.
	wantKind(t, s.ApproveRoleProfile(ctx, id, raAgentUID, entry("approve_role_profile", holderUID)), registration.ErrConflict)
	wantKind(t, s.ApproveRoleProfile(ctx, id, holderUID, entry("approve_role_profile", holderUID)), registration.ErrConflict)
	same(t, auditCount(t, s), int64(1))
	ok(t, s.ApproveRoleProfile(ctx, id, otherUID, entry("approve_role_profile", holderUID)))
	active, err := s.RoleProfile(ctx, id)
	ok(t, err)
	if active.Status != registration.RoleProfileActive || active.ApprovedBy != otherUID {
		t.Fatalf("approved %+v", active)
	}
	wantKind(t, s.ApproveRoleProfile(ctx, id, otherUID, entry("approve_role_profile", holderUID)), registration.ErrConflict)
	ok(t, s.EndRoleProfile(ctx, id, entry("end_role_profile", holderUID)))
	wantKind(t, s.EndRoleProfile(ctx, id, entry("end_role_profile", holderUID)), registration.ErrConflict)
	orgs, err = s.PersonOrganisations(ctx, holderUID)
	ok(t, err)
	same(t, orgs, []string{})
	same(t, auditCount(t, s), int64(3))

	// Malformed requests write nothing.
	active2 := pendingProfile("900000000102", holderUID)
	active2.Status, active2.ApprovedBy = registration.RoleProfileActive, otherUID
	wantKind(t, s.RequestRoleProfile(ctx, active2, registration.RoleProfileRequest{RoleProfileID: active2.ID, RequestedBy: raAgentUID},
		entry("request_role_profile", holderUID)), registration.ErrInvalid)
	self := pendingProfile("900000000103", holderUID)
	wantKind(t, s.RequestRoleProfile(ctx, self, registration.RoleProfileRequest{RoleProfileID: self.ID, RequestedBy: holderUID},
		entry("request_role_profile", holderUID)), registration.ErrInvalid)
	wantKind(t, s.RequestRoleProfile(ctx, self, registration.RoleProfileRequest{RoleProfileID: self.ID, RequestedBy: "900000000099"},
		entry("request_role_profile", holderUID)), registration.ErrInvalid)
	_, err = s.RoleProfile(ctx, self.ID)
	wantKind(t, err, registration.ErrNotFound)
	_, err = s.RoleProfileRequest(ctx, self.ID)
	wantKind(t, err, registration.ErrNotFound)
	wantKind(t, s.ApproveRoleProfile(ctx, self.ID, otherUID, entry("approve_role_profile", holderUID)), registration.ErrNotFound)
	same(t, auditCount(t, s), int64(3))
}

// testAuditByContext: writes that do not take an entry themselves (cards,
// and the card CA's records) carry one by context, in their transaction.
func testAuditByContext(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	world(t, s)
	withAudit := func(a registration.AuditEntry) (context.Context, *registration.PendingAudit) {
		t.Helper()
		a.At = t0
		c, p, err := registration.WithAudit(ctx, a)
		ok(t, err)
		return c, p
	}
	c := registration.Card{ID: "CRA0001", UID: holderUID, CertSerial: "0a01", CertFingerprint: [32]byte{1},
		CertNotAfter: t0.AddDate(2, 0, 0), Status: registration.CardActive, IssuedAt: t0}
	actx, pending := withAudit(entry("issue_card", holderUID))
	ok(t, s.CreateCard(actx, c))
	written, done := pending.Written()
	if !done || written.Seq != 1 || written.Action != "issue_card" || written.Hash != written.ComputeHash() {
		t.Fatalf("entry written with the card: %+v, %v", written, done)
	}
	// The entry is used once: a second write with the same context
	// appends nothing.
	ok(t, s.SetCardStatus(actx, c.ID, registration.CardSuspended))
	same(t, auditCount(t, s), int64(1))

	// A refused write leaves no entry, and the entry stays pending.
	actx, pending = withAudit(entry("issue_card", holderUID))
	wantKind(t, s.CreateCard(actx, c), registration.ErrExists)
	if _, done := pending.Written(); done {
		t.Fatal("a refused write's entry was written")
	}
	same(t, auditCount(t, s), int64(1))
	actx, pending = withAudit(entry("cancel_card", holderUID))
	wantKind(t, s.SetCardStatus(actx, "NOSUCHCARD", registration.CardCancelled), registration.ErrNotFound)
	ok(t, s.SetCardStatus(actx, c.ID, registration.CardCancelled))
	if w, done := pending.Written(); !done || w.Seq != 2 {
		t.Fatalf("entry after a retry: %+v, %v", w, done)
	}
	same(t, auditCount(t, s), int64(2))

	// An entry carried by context does not double one a write takes itself.
	actx, pending = withAudit(entry("register_person", "900000000010"))
	p, check := newcomer("900000000010")
	ok(t, s.RegisterPerson(actx, p, check, entry("register_person", "900000000010")))
	if _, done := pending.Written(); done {
		t.Fatal("the context's entry was written beside the write's own")
	}
	same(t, auditCount(t, s), int64(3))

	_, _, err := registration.WithAudit(ctx, registration.AuditEntry{Action: "Bad Action", At: t0})
	wantKind(t, err, registration.ErrInvalid)
	_, _, err = registration.WithAudit(ctx, registration.AuditEntry{Action: "x", At: t0, Outcome: registration.AuditDenied})
	wantKind(t, err, registration.ErrInvalid)
}

func testAudit(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	same(t, auditCount(t, s), int64(0))
	head, err := s.AuditHead(ctx)
	ok(t, err)
	same(t, *head, registration.AuditHead{Seq: 0, Hash: registration.ZeroHash})

	at := t0.Add(time.Minute)
	login := registration.AuditEntry{At: at, ActorUID: holderUID, Action: "login", SubjectUID: holderUID,
		Target: "CARD-1", Details: `{"session":"abcd","workstation":"ws-1"}`}
	first, err := s.AppendAudit(ctx, login)
	ok(t, err)
	if first.Seq != 1 || first.PrevHash != registration.ZeroHash || first.Hash != first.ComputeHash() ||
		first.Outcome != registration.AuditDone || len(first.ID) != 32 || !first.At.Equal(us(at)) {
		t.Fatalf("first entry %+v", first)
	}
	denied := registration.AuditEntry{ActorUID: otherUID, ActorRoleProfileID: "900000000201", Action: "issue_card",
		Outcome: registration.AuditDenied, SubjectUID: holderUID, Reason: "outside_organisation", DecisionID: "0190a1b2c3d4e5f6"}
	second, err := s.AppendAudit(ctx, denied)
	ok(t, err)
	if second.Seq != 2 || second.PrevHash != first.Hash || second.Outcome != registration.AuditDenied {
		t.Fatalf("second entry %+v", second)
	}
	all, err := s.AuditEntries(ctx, registration.AuditFilter{})
	ok(t, err)
	same(t, all, []registration.AuditEntry{*first, *second})
	later, err := s.AuditEntries(ctx, registration.AuditFilter{AfterSeq: 1})
	ok(t, err)
	same(t, later, []registration.AuditEntry{*second})
	same(t, auditCount(t, s), int64(2))

	for _, bad := range []registration.AuditEntry{
		{Action: ""}, {Action: "login", Outcome: "maybe"}, {Action: "login", ActorUID: "12"},
		{Action: "login", Reason: "bad\x00reason"}, {Action: "login", Target: "a b"}, {Action: "login", ID: "xyz"},
	} {
		_, err := s.AppendAudit(ctx, bad)
		wantKind(t, err, registration.ErrInvalid)
	}
	for _, f := range []registration.AuditFilter{{AfterSeq: -1}, {Limit: 1001}, {SubjectUID: "x"}} {
		_, err := s.AuditEntries(ctx, f)
		wantKind(t, err, registration.ErrInvalid)
	}

	// The chain survives a reopen and continues from its head.
	ok(t, s.Close())
	s = open(t)
	third, err := s.AppendAudit(ctx, registration.AuditEntry{Action: "logout", ActorUID: holderUID})
	ok(t, err)
	if third.Seq != 3 || third.PrevHash != second.Hash {
		t.Fatalf("after reopen %+v", third)
	}
	same(t, auditCount(t, s), int64(3))
}

func testAuditConcurrent(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	world(t, s)
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = s.AppendAudit(ctx, registration.AuditEntry{Action: "login", ActorUID: holderUID})
			} else {
				uid := fmt.Sprintf("9100000000%02d", i)
				p, check := newcomer(uid)
				err = s.RegisterPerson(ctx, p, check, entry("register_person", uid))
			}
			if err != nil {
				t.Errorf("append %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	same(t, auditCount(t, s), int64(24))
	all, err := s.AuditEntries(ctx, registration.AuditFilter{Limit: 1000})
	ok(t, err)
	for i, a := range all {
		if a.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d", i, a.Seq)
		}
	}
}
