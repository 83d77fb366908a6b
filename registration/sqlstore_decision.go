package registration

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The PDP's read: every role profile and every patient's facts a batch of
// access decisions needs, in one statement (so one snapshot and one round
// trip, whatever the batch's size). Each branch of the UNION ALL is one
// kind of row (k) for one key (a role profile ID or an NHS number), its
// columns mapped onto shared text (a-g) and integer (n1-n3) columns;
// every branch is an index lookup (role_profiles.id, the nhs_number
// indexes of the patient tables).
//
// Statements are prepared for lists of 1, 2, 4 ... MaxDecisionFacts keys,
// a shorter list repeating its last key, so that a handful of prepared
// statements serve every batch.

// MaxDecisionFacts bounds each list DecisionFacts reads.
const MaxDecisionFacts = 128

// sizeClasses is the number of list lengths a statement is prepared for,
// plus one for an empty list: 0, 1, 2, 4 ... MaxDecisionFacts.
const sizeClasses = 9

// decisionStmts are the DecisionFacts statements, prepared on first use
// on the read pool, by the size classes of the two lists.
type decisionStmts struct {
	mu    sync.Mutex // serialises preparing
	stmts [sizeClasses][sizeClasses]atomic.Pointer[sql.Stmt]
}

// sizeClass returns the class of a list of n keys (0 <= n <=
// MaxDecisionFacts) and the length of the padded list.
func sizeClass(n int) (class, padded int) {
	if n == 0 {
		return 0, 0
	}
	c := bits.Len(uint(n - 1)) // 1 → 0, 2 → 1, 3-4 → 2 ...
	return c + 1, 1 << c
}

func (d *decisionStmts) get(ctx context.Context, db *sql.DB, pc, pn, nc, nn int) (*sql.Stmt, error) {
	if st := d.stmts[pc][nc].Load(); st != nil {
		return st, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if st := d.stmts[pc][nc].Load(); st != nil {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, decisionFactsSQL(pn, nn))
	if err != nil {
		return nil, err
	}
	d.stmts[pc][nc].Store(st)
	return st, nil
}

func (d *decisionStmts) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for i := range d.stmts {
		for j := range d.stmts[i] {
			if st := d.stmts[i][j].Swap(nil); st != nil {
				errs = append(errs, st.Close())
			}
		}
	}
	return errors.Join(errs...)
}

// decisionFactsSQL is the statement for np role profile IDs ($1..$np) and
// nn NHS numbers ($np+1..$np+nn); np+nn > 0.
func decisionFactsSQL(np, nn int) string {
	list := func(from, n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("$" + strconv.Itoa(from+i))
		}
		return b.String()
	}
	var branches []string
	if np > 0 {
		branches = append(branches, `SELECT 'p' AS k, rp.id AS key, rp.uid AS a, rp.ods AS b, rp.job_role AS c,
       rp.status AS d, rp.approved_by AS e, `+activitiesAgg+` AS f, `+workgroupsAgg+` AS g,
       rp.start_us AS n1, rp.end_us AS n2, rp.created_at_us AS n3
  FROM role_profiles rp WHERE rp.id IN (`+list(1, np)+`)`)
	}
	if nn > 0 {
		in := "IN (" + list(np+1, nn) + ")"
		branches = append(branches,
			`SELECT 'r', nhs_number, id, target_type, target, kind, created_by, reason, NULL,
       created_at_us, expires_at_us, ended_at_us
  FROM relationships WHERE nhs_number `+in,
			`SELECT 'c', nhs_number, scr, updated_by, NULL, NULL, NULL, NULL, NULL, updated_at_us, version, NULL
  FROM consents WHERE nhs_number `+in,
			`SELECT 'd', nhs_number, code, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM consent_dissent_codes WHERE nhs_number `+in,
			`SELECT 's', nhs_number, section, state, owner_workgroup, created_by, NULL, NULL, NULL,
       created_at_us, NULL, NULL
  FROM seals WHERE nhs_number `+in)
	}
	return strings.Join(branches, "\nUNION ALL\n")
}

// DecisionFacts implements Store.
func (s *sqlStore) DecisionFacts(ctx context.Context, profileIDs, nhsNumbers []string) (*DecisionFacts, error) {
	profileIDs, err := distinctKeys("role_profile_ids", profileIDs, ValidateRoleProfileID)
	if err != nil {
		return nil, err
	}
	nhsNumbers, err = distinctKeys("nhs_numbers", nhsNumbers, ValidateNHSNumber)
	if err != nil {
		return nil, err
	}
	df := &DecisionFacts{
		Profiles: make(map[string]*RoleProfile, len(profileIDs)),
		Patients: make(map[string]*PatientFacts, len(nhsNumbers)),
	}
	for _, nhs := range nhsNumbers {
		df.Patients[nhs] = &PatientFacts{NHSNumber: nhs, Relationships: []Relationship{}, Seals: []Seal{}}
	}
	if len(profileIDs) == 0 && len(nhsNumbers) == 0 {
		return df, nil
	}
	pc, pn := sizeClass(len(profileIDs))
	nc, nn := sizeClass(len(nhsNumbers))
	st, err := s.dq.get(ctx, s.r, pc, pn, nc, nn)
	if err != nil {
		return nil, s.wrap("prepare decision facts", err)
	}
	args := make([]any, 0, pn+nn)
	args = appendPadded(args, profileIDs, pn)
	args = appendPadded(args, nhsNumbers, nn)

	codes := make(map[string][]string)
	var row factRow
	dest := row.dest()
	rows, err := st.QueryContext(ctx, args...)
	err = s.scanAll("read decision facts", rows, err, func(rows *sql.Rows) error {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		return row.add(df, codes)
	})
	if err != nil {
		return nil, err
	}
	for _, f := range df.Patients {
		if f.Consent != nil {
			f.Consent.DissentCodes = append([]string{}, codes[f.NHSNumber]...)
			slices.Sort(f.Consent.DissentCodes)
		}
		slices.SortFunc(f.Relationships, func(x, y Relationship) int {
			return cmp.Or(x.CreatedAt.Compare(y.CreatedAt), strings.Compare(x.ID, y.ID))
		})
		sortSeals(f.Seals)
	}
	return df, nil
}

// distinctKeys validates keys and returns them without repeats, in their
// first order.
func distinctKeys(field string, keys []string, validate func(string) error) ([]string, error) {
	if len(keys) > MaxDecisionFacts {
		return nil, invalid(field, fmt.Sprintf("at most %d in one read", MaxDecisionFacts))
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if err := validate(k); err != nil {
			return nil, err
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// appendPadded appends keys to args and then repeats the last key until n
// have been appended.
func appendPadded(args []any, keys []string, n int) []any {
	for i := range n {
		args = append(args, keys[min(i, len(keys)-1)])
	}
	return args
}

// factRow is one row of decisionFactsSQL.
type factRow struct {
	k, key              string
	a, b, c, d, e, f, g sql.NullString
	n1, n2, n3          sql.NullInt64
}

func (r *factRow) dest() []any {
	return []any{&r.k, &r.key, &r.a, &r.b, &r.c, &r.d, &r.e, &r.f, &r.g, &r.n1, &r.n2, &r.n3}
}

// add puts the fact in r into df; a dissent code goes into codes under
// its NHS number.
func (r *factRow) add(df *DecisionFacts, codes map[string][]string) error {
	if r.k == "p" {
		pr := profileRow{
			id: sql.NullString{String: r.key, Valid: true}, uid: r.a, ods: r.b, jobRole: r.c,
			status: r.d, approvedBy: r.e, activities: r.f, workgroups: r.g,
			start: r.n1, end: r.n2, created: r.n3,
		}
		rp, err := pr.profile()
		if err != nil {
			return err
		}
		df.Profiles[rp.ID] = &rp
		return nil
	}
	pf := df.Patients[r.key]
	if pf == nil {
		return fmt.Errorf("a fact of patient %s, which was not asked for", r.key)
	}
	switch r.k {
	case "r":
		pf.Relationships = append(pf.Relationships, Relationship{
			ID: r.a.String, NHSNumber: pf.NHSNumber, TargetType: TargetType(r.b.String), Target: r.c.String,
			Kind: RelationshipKind(r.d.String), CreatedBy: r.e.String, Reason: r.f.String,
			CreatedAt: fromMicros(r.n1.Int64), ExpiresAt: optMicros(r.n2), EndedAt: optMicros(r.n3),
		})
	case "c":
		pf.Consent = &Consent{NHSNumber: pf.NHSNumber, SCR: ConsentSCR(r.a.String), UpdatedBy: r.b.String,
			UpdatedAt: fromMicros(r.n1.Int64), Version: int(r.n2.Int64)}
	case "d":
		codes[pf.NHSNumber] = append(codes[pf.NHSNumber], r.a.String)
	case "s":
		pf.Seals = append(pf.Seals, Seal{NHSNumber: pf.NHSNumber, Section: r.a.String, State: SealState(r.b.String),
			OwnerWorkgroup: r.c.String, CreatedBy: r.d.String, CreatedAt: fromMicros(r.n1.Int64)})
	default:
		return fmt.Errorf("a row of unknown kind %q", r.k)
	}
	return nil
}
