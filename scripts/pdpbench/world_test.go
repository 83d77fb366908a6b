package main

import (
	"context"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/pgtest"
)

func TestNHSNumbersAreValidAndIncreasing(t *testing.T) {
	nums := nhsNumbers(5000)
	if len(nums) != 5000 {
		t.Fatalf("got %d numbers", len(nums))
	}
	for i, n := range nums {
		if !registration.ValidNHSNumber(n) {
			t.Fatalf("%s is not a valid NHS number", n)
		}
		if n[:3] != "999" {
			t.Fatalf("%s is not a test number", n)
		}
		if slices.Contains(demoPatients, n) {
			t.Fatalf("%s collides with a demo patient", n)
		}
		if i > 0 && n <= nums[i-1] {
			t.Fatalf("not increasing at %d: %s after %s", i, n, nums[i-1])
		}
	}
}

func TestCheckDigitMatchesRegistration(t *testing.T) {
	for p := firstPrefix; p < firstPrefix+2000; p++ {
		d, ok := checkDigit(p)
		valid := 0
		for c := range 10 {
			n := itoa9(p) + string(rune('0'+c))
			if registration.ValidNHSNumber(n) {
				valid++
				if !ok || c != d {
					t.Fatalf("prefix %d: registration accepts check digit %d, checkDigit says %d, %v", p, c, d, ok)
				}
			}
		}
		if ok != (valid == 1) {
			t.Fatalf("prefix %d: checkDigit ok=%v, registration accepts %d digits", p, ok, valid)
		}
	}
}

func itoa9(p int) string {
	b := []byte("000000000")
	for i := 8; i >= 0; i-- {
		b[i] = byte('0' + p%10)
		p /= 10
	}
	return string(b)
}

func testSpec(patients, rels int) worldSpec {
	return worldSpec{Patients: patients, Relationships: rels, Seed: 7, IDTag: 0xabcdef,
		Now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
}

func TestGenerateIsDeterministicAndValid(t *testing.T) {
	spec := testSpec(300, 1000)
	collect := func() []*patientFacts {
		var out []*patientFacts
		if err := generate(spec, nhsNumbers(spec.Patients), func(p *patientFacts) error {
			out = append(out, p)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := collect(), collect()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same spec generated different worlds")
	}
	rels, ids := 0, map[string]bool{}
	var expired, ended, consents, seals int
	for _, p := range a {
		for _, r := range p.Relationships {
			rels++
			if ids[r.ID] {
				t.Fatalf("duplicate relationship ID %s", r.ID)
			}
			ids[r.ID] = true
			end := r.EndedAt
			r.EndedAt = time.Time{} // as CreateRelationship receives it
			if err := r.Validate(); err != nil {
				t.Fatalf("relationship %+v: %v", r, err)
			}
			if !end.IsZero() {
				ended++
				if end.Before(r.CreatedAt) || end.After(spec.Now) {
					t.Fatalf("relationship %s ends at %v, outside [created, now]", r.ID, end)
				}
			}
			if !r.Current(spec.Now) {
				expired++
			}
		}
		if p.Consent != nil {
			consents++
			if err := p.Consent.Validate(); err != nil {
				t.Fatalf("consent %+v: %v", p.Consent, err)
			}
		}
		for _, s := range p.Seals {
			seals++
			if err := s.Validate(); err != nil {
				t.Fatalf("seal %+v: %v", s, err)
			}
		}
	}
	if rels != spec.Relationships {
		t.Fatalf("%d relationships, want %d", rels, spec.Relationships)
	}
	// The mix has some of everything (rough bounds on 1000 draws).
	if expired < 50 || ended < 5 || consents < 200 || seals < 5 {
		t.Fatalf("thin mix: %d expired, %d ended, %d consents, %d seals", expired, ended, consents, seals)
	}
}

// TestBulkInsertMatchesStoreAPI writes the same world once through the
// Store API and once with the bulk loader and reads both back with
// PatientFacts, the PDP's own read: the facts must be identical.
func TestBulkInsertMatchesStoreAPI(t *testing.T) {
	ctx := context.Background()
	spec := testSpec(120, 500)
	pki := filepath.Join("..", "..", "testkeys", "pki")
	dirs := map[string]string{"api": t.TempDir(), "sql": t.TempDir()}
	for bulk, dir := range dirs {
		if _, err := buildDB(ctx, storeTarget{dir: dir}, pki, spec, bulk, io.Discard); err != nil {
			t.Fatalf("%s: %v", bulk, err)
		}
	}
	open := func(dir string) *registration.SQLite {
		st, err := registration.OpenSQLite(ctx, filepath.Join(dir, dbFile))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	api, sql := open(dirs["api"]), open(dirs["sql"])
	for _, n := range append(nhsNumbers(spec.Patients), demoPatients...) {
		a, err := api.PatientFacts(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		b, err := sql.PatientFacts(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("patient %s differs:\n api %+v\n sql %+v", n, a, b)
		}
	}
}

// TestPostgresWorldsMatchSQLite builds the same world in PostgreSQL twice,
// through the Store API and with the COPY loader, and once in SQLite
// through the Store API, and reads every patient back with PatientFacts:
// all three must agree.
func TestPostgresWorldsMatchSQLite(t *testing.T) {
	ctx := context.Background()
	spec := testSpec(120, 500)
	pki := filepath.Join("..", "..", "testkeys", "pki")
	srv := pgtest.New(t)
	targets := map[string]storeTarget{
		"sqlite-api":   {dir: t.TempDir()},
		"postgres-api": {dir: t.TempDir(), dsn: srv.DSN(t)},
		"postgres-sql": {dir: t.TempDir(), dsn: srv.DSN(t)},
	}
	stores := map[string]registration.Store{}
	for name, target := range targets {
		bulk := name[strings.IndexByte(name, '-')+1:]
		rec, err := buildDB(ctx, target, pki, spec, bulk, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rec.Store != target.kind() {
			t.Fatalf("%s: world records store %q", name, rec.Store)
		}
		st, err := target.open(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores[name] = st
	}
	for _, n := range append(nhsNumbers(spec.Patients), demoPatients...) {
		want, err := stores["sqlite-api"].PatientFacts(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"postgres-api", "postgres-sql"} {
			got, err := stores[name].PatientFacts(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("patient %s: %s differs from sqlite-api:\n got %+v\nwant %+v", n, name, got, want)
			}
		}
	}
}
