package certverify

// Certificate policy processing of RFC 5280 section 6.1 (6.1.2 (a)(d)(e)(f),
// 6.1.3 (d)(e)(f), 6.1.4 (a)(b)(h)(i)(j), 6.1.5 (a)(b)(g)), using the policy
// graph of RFC 9618 instead of the policy tree. RFC 9618 produces the same
// results as RFC 5280 but its structure grows linearly with the input, so a
// hostile chain full of policy mappings cannot blow up memory or time.
//
// Policy qualifiers are not processed: they never change the outcome.

import (
	"crypto/x509"
	"errors"
	"fmt"
)

// anyPolicyOID is 2.5.29.32.0.
var anyPolicyOID = mustPolicyOID(2, 5, 29, 32, 0)

// Reasons a path fails certificate policy processing. The caller wraps them
// in an *Error with ReasonUntrusted; tests match them with errors.Is.
var (
	// errPolicyRequired: explicit_policy reached 0 while no acceptable
	// policy remained (6.1.3 (f) or the final check of 6.1.5/6.1.6).
	errPolicyRequired = errors.New("an explicit certificate policy is required but none is acceptable")
	// errPolicyMapsAny: a policy mapping to or from anyPolicy (6.1.4 (a)).
	errPolicyMapsAny = errors.New("policy mapping to or from anyPolicy")
	// errPolicyMalformed: a policy extension that the parser let through
	// but that no conforming CA issues (duplicate policy, negative
	// SkipCerts, invalid mapping OID).
	errPolicyMalformed = errors.New("malformed certificate policy extension")
	// errPolicyMisuse: the validator was driven out of order (a bug in the
	// caller, refused rather than guessed at).
	errPolicyMisuse = errors.New("policy validator used out of order")
)

// policyOptions are the RFC 5280 6.1.1 policy inputs.
type policyOptions struct {
	InitialPolicies []x509.OID // user-initial-policy-set; empty means {anyPolicy}
	RequireExplicit bool       // initial-explicit-policy
	InhibitMapping  bool       // initial-policy-mapping-inhibit
	InhibitAny      bool       // initial-any-policy-inhibit
}

// policyNode is a node of the RFC 9618 valid_policy_graph. Qualifiers are
// not kept.
type policyNode struct {
	policy   x509.OID      // valid_policy
	expected []x509.OID    // expected_policy_set
	parents  []*policyNode // nodes one level up; empty only for the root
	children int           // live nodes one level down listing this one as a parent
}

func (nd *policyNode) isAny() bool { return nd.policy.Equal(anyPolicyOID) }

// policyLevel holds the nodes of one depth of the graph. RFC 9618 keeps
// valid_policy unique within a depth; the index relies on that.
type policyLevel struct {
	nodes []*policyNode          // in creation order, for stable output
	index map[string]*policyNode // valid_policy -> node
}

func newPolicyLevel() *policyLevel {
	return &policyLevel{index: make(map[string]*policyNode)}
}

func (l *policyLevel) get(oid x509.OID) *policyNode { return l.index[policyOIDKey(oid)] }

func (l *policyLevel) anyNode() *policyNode { return l.get(anyPolicyOID) }

// add creates the node (policy, expected) below parents.
func (l *policyLevel) add(policy x509.OID, expected []x509.OID, parents []*policyNode) {
	nd := &policyNode{policy: policy, expected: expected, parents: parents}
	for _, p := range parents {
		p.children++
	}
	l.nodes = append(l.nodes, nd)
	l.index[policyOIDKey(policy)] = nd
}

// remove deletes nd from the level and detaches it from its parents.
func (l *policyLevel) remove(nd *policyNode) {
	for k, x := range l.nodes {
		if x == nd {
			l.nodes = append(l.nodes[:k], l.nodes[k+1:]...)
			break
		}
	}
	delete(l.index, policyOIDKey(nd.policy))
	for _, p := range nd.parents {
		p.children--
	}
}

// policyValidator carries valid_policy_graph, explicit_policy, inhibit_anyPolicy and
// policy_mapping through one path of n certificates (trust anchor excluded).
type policyValidator struct {
	n int

	userAny  bool       // user-initial-policy-set is {anyPolicy}
	userSet  []x509.OID // otherwise: its distinct members, in the caller's order
	explicit int        // explicit_policy
	inhibit  int        // inhibit_anyPolicy
	mapping  int        // policy_mapping

	// graph is valid_policy_graph: graph[d] holds the nodes of depth d.
	// nil is the RFC's NULL graph.
	graph []*policyLevel

	next int               // the i processCert expects next; n+1 once all are done
	last *x509.Certificate // certificate n, once processed
	done bool              // finish has run
	err  error             // sticky: once the path failed, every call fails
}

// newPolicyValidator initialises the policy state variables of RFC 5280
// 6.1.2 (a)(d)(e)(f) for a path of n certificates. A set of initial
// policies that contains anyPolicy is the same as {anyPolicy}.
func newPolicyValidator(opts policyOptions, n int) *policyValidator {
	p := &policyValidator{
		n:        n,
		userAny:  len(opts.InitialPolicies) == 0,
		explicit: n + 1,
		inhibit:  n + 1,
		mapping:  n + 1,
		next:     1,
	}
	seen := make(map[string]bool)
	for _, oid := range opts.InitialPolicies {
		if oid.Equal(anyPolicyOID) {
			p.userAny = true
		}
		if k := policyOIDKey(oid); !seen[k] {
			seen[k] = true
			p.userSet = append(p.userSet, oid)
		}
	}
	if p.userAny {
		p.userSet = nil
	}
	if opts.RequireExplicit {
		p.explicit = 0
	}
	if opts.InhibitAny {
		p.inhibit = 0
	}
	if opts.InhibitMapping {
		p.mapping = 0
	}
	// 6.1.2 (a): a single anyPolicy node at depth 0.
	root := newPolicyLevel()
	root.add(anyPolicyOID, []x509.OID{anyPolicyOID}, nil)
	p.graph = []*policyLevel{root}
	if n < 1 {
		p.err = fmt.Errorf("%w: path of %d certificates", errPolicyMisuse, n)
	}
	return p
}

// processCert runs, for certificate i (1-based: 1 is issued by the trust anchor, n is the
// target/leaf), 6.1.3 (d),(e),(f), and when i < n also 6.1.4 (a),(b),(h),(i),(j).
// selfIssued reports whether the certificate's subject and issuer names match (the caller
// computes it with RFC 5280 name comparison). It returns a non-nil plain error (the caller
// wraps it) when the path is invalid at this certificate.
func (p *policyValidator) processCert(c *x509.Certificate, i int, selfIssued bool) error {
	if p.err != nil {
		return p.err
	}
	if c == nil || i != p.next || i > p.n || p.done {
		return p.fail(fmt.Errorf("%w: certificate %d given, %d expected", errPolicyMisuse, i, p.next))
	}
	if err := checkPolicyExtensions(c); err != nil {
		return p.fail(err)
	}

	// 6.1.3 (d) and (e).
	switch {
	case len(c.Policies) == 0:
		p.graph = nil
	case p.graph != nil:
		p.addLevel(c, i, selfIssued)
	}
	// 6.1.3 (f).
	if p.explicit <= 0 && p.graph == nil {
		return p.fail(fmt.Errorf("%w: no valid policy remains at certificate %d", errPolicyRequired, i))
	}

	if i < p.n {
		if err := p.prepareNext(c, i, selfIssued); err != nil {
			return p.fail(err)
		}
	} else {
		p.last = c
	}
	p.next++
	return nil
}

// prepareNext is 6.1.4 (a),(b),(h),(i),(j) for certificate i < n.
func (p *policyValidator) prepareNext(c *x509.Certificate, i int, selfIssued bool) error {
	// (a)
	for _, m := range c.PolicyMappings {
		if m.IssuerDomainPolicy.Equal(anyPolicyOID) || m.SubjectDomainPolicy.Equal(anyPolicyOID) {
			return fmt.Errorf("%w at certificate %d", errPolicyMapsAny, i)
		}
	}
	// (b)
	if p.graph != nil && len(c.PolicyMappings) > 0 {
		p.applyMappings(c.PolicyMappings, i)
	}
	// (h): self-issued intermediates do not count.
	if !selfIssued {
		if p.explicit > 0 {
			p.explicit--
		}
		if p.mapping > 0 {
			p.mapping--
		}
		if p.inhibit > 0 {
			p.inhibit--
		}
	}
	// (i)
	if r, ok := skipCerts(c.RequireExplicitPolicy, c.RequireExplicitPolicyZero); ok && r < p.explicit {
		p.explicit = r
	}
	if q, ok := skipCerts(c.InhibitPolicyMapping, c.InhibitPolicyMappingZero); ok && q < p.mapping {
		p.mapping = q
	}
	// (j)
	if q, ok := skipCerts(c.InhibitAnyPolicy, c.InhibitAnyPolicyZero); ok && q < p.inhibit {
		p.inhibit = q
	}
	return nil
}

// addLevel is 6.1.3 (d) for certificate i: it builds depth i of the graph
// from the certificate's policies and prunes what no longer leads to it.
func (p *policyValidator) addLevel(c *x509.Certificate, i int, selfIssued bool) {
	prev := p.graph[i-1]
	// parentsOf[P] lists the nodes of depth i-1 whose expected_policy_set
	// holds P; expectedOrder lists those P in first-seen order.
	parentsOf := make(map[string][]*policyNode)
	var expectedOrder []x509.OID
	for _, nd := range prev.nodes {
		for _, e := range nd.expected {
			k := policyOIDKey(e)
			if _, ok := parentsOf[k]; !ok {
				expectedOrder = append(expectedOrder, e)
			}
			parentsOf[k] = append(parentsOf[k], nd)
		}
	}

	cur := newPolicyLevel()
	hasAny := false
	// (d)(1)
	for _, pol := range c.Policies {
		if pol.Equal(anyPolicyOID) {
			hasAny = true
			continue
		}
		if parents := parentsOf[policyOIDKey(pol)]; len(parents) > 0 { // (i)
			cur.add(pol, []x509.OID{pol}, parents)
		} else if a := prev.anyNode(); a != nil { // (ii)
			cur.add(pol, []x509.OID{pol}, []*policyNode{a})
		}
	}
	// (d)(2): anyPolicy stands for every expected policy not yet matched,
	// anyPolicy included, unless inhibited. A self-issued intermediate is
	// exempt from inhibit_anyPolicy; a self-issued leaf is not.
	if hasAny && (p.inhibit > 0 || (i < p.n && selfIssued)) {
		for _, e := range expectedOrder {
			if cur.get(e) == nil {
				cur.add(e, []x509.OID{e}, parentsOf[policyOIDKey(e)])
			}
		}
	}
	p.graph = append(p.graph, cur)
	// (d)(3)
	p.prune(i - 1)
}

// applyMappings is 6.1.4 (b) for certificate i: the nodes of depth i get
// the mapped expected_policy_set, or are deleted when mapping is
// inhibited.
func (p *policyValidator) applyMappings(mappings []x509.PolicyMapping, i int) {
	// Group the subjectDomainPolicy values by issuerDomainPolicy.
	var issuers []x509.OID
	subjects := make(map[string][]x509.OID)
	for _, m := range mappings {
		k := policyOIDKey(m.IssuerDomainPolicy)
		if _, ok := subjects[k]; !ok {
			issuers = append(issuers, m.IssuerDomainPolicy)
		}
		if !containsPolicyOID(subjects[k], m.SubjectDomainPolicy) {
			subjects[k] = append(subjects[k], m.SubjectDomainPolicy)
		}
	}

	cur := p.graph[i]
	deleted := false
	for _, idp := range issuers {
		nd := cur.get(idp)
		if p.mapping == 0 {
			// (b)(2)(i)
			if nd != nil {
				cur.remove(nd)
				deleted = true
			}
			continue
		}
		// (b)(1)
		sdp := subjects[policyOIDKey(idp)]
		if nd != nil {
			nd.expected = sdp
			continue
		}
		if cur.anyNode() == nil {
			continue
		}
		// A node of depth i with valid_policy anyPolicy always has the
		// anyPolicy node of depth i-1 as its parent, so that node exists.
		if pa := p.graph[i-1].anyNode(); pa != nil {
			cur.add(idp, sdp, []*policyNode{pa})
		}
	}
	if deleted {
		// (b)(2)(ii)
		p.prune(i - 1)
	}
}

// prune deletes, from depth d upwards, every node left without children,
// and sets the graph to NULL when the deepest level is empty. Below d no
// node is childless, so the walk stops at the first depth that loses
// nothing.
func (p *policyValidator) prune(d int) {
	for ; d >= 0; d-- {
		level := p.graph[d]
		kept := level.nodes[:0]
		removed := false
		for _, nd := range level.nodes {
			if nd.children > 0 {
				kept = append(kept, nd)
				continue
			}
			removed = true
			delete(level.index, policyOIDKey(nd.policy))
			for _, parent := range nd.parents {
				parent.children--
			}
		}
		level.nodes = kept
		if !removed {
			break
		}
	}
	if len(p.graph[len(p.graph)-1].nodes) == 0 {
		p.graph = nil
	}
}

// finish runs 6.1.5 (a),(b) for the leaf and (g), returning the user-constrained policy set
// (the intersection of the valid policy graph's leaves with user-initial-policy-set, expressed
// as concrete OIDs, or containing anyPolicy when the graph's authorities-constrained set is
// {anyPolicy} and the user set is {anyPolicy}), or an error when explicit_policy is 0 and
// that set is empty.
//
// As in RFC 9618 6.1.5 (g), the set is expressed in the trust anchor's
// policy domain: a policy reached through mappings is reported as the
// policy it was mapped from. When the user set is {anyPolicy} the
// authorities-constrained set is returned as is, and it may then hold
// anyPolicy next to concrete OIDs.
func (p *policyValidator) finish(leaf *x509.Certificate) ([]x509.OID, error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.done || p.next != p.n+1 || leaf == nil || leaf != p.last {
		return nil, p.fail(fmt.Errorf("%w: finish before the leaf was processed", errPolicyMisuse))
	}
	p.done = true
	// (a) applies to the leaf whether or not it is self-issued.
	if p.explicit > 0 {
		p.explicit--
	}
	// (b)
	if leaf.RequireExplicitPolicyZero && leaf.RequireExplicitPolicy == 0 {
		p.explicit = 0
	}
	// (g)
	set := p.userConstrained()
	if p.explicit <= 0 && len(set) == 0 {
		return nil, p.fail(fmt.Errorf("%w: the user-constrained policy set is empty", errPolicyRequired))
	}
	return set, nil
}

// userConstrained computes user_constrained_policy_set per RFC 9618
// 6.1.5 (g). The graph is fully pruned here, so every node leads to
// depth n.
func (p *policyValidator) userConstrained() []x509.OID {
	// (g)(1)-(4): authority_constrained_policy_set.
	var authority []x509.OID
	authorityAny := false
	if p.graph != nil {
		for _, level := range p.graph[1:] {
			for _, nd := range level.nodes {
				if !nd.isAny() && len(nd.parents) == 1 && nd.parents[0].isAny() &&
					!containsPolicyOID(authority, nd.policy) {
					authority = append(authority, nd.policy)
				}
			}
		}
		if p.graph[p.n].anyNode() != nil {
			authority = append(authority, anyPolicyOID)
			authorityAny = true
		}
	}
	// (g)(5)
	if p.userAny {
		return authority
	}
	// (g)(6)
	var out []x509.OID
	for _, oid := range authority {
		if containsPolicyOID(p.userSet, oid) {
			out = append(out, oid)
		}
	}
	if authorityAny {
		for _, oid := range p.userSet {
			if !containsPolicyOID(out, oid) {
				out = append(out, oid)
			}
		}
	}
	return out
}

// fail records err so that the validator refuses every later call.
func (p *policyValidator) fail(err error) error {
	p.err = err
	p.graph = nil
	return err
}

// checkPolicyExtensions refuses policy extension values that crypto/x509
// parses but RFC 5280 forbids: a policy OID repeated in
// certificatePolicies (4.2.1.4; Go 1.26's parser already rejects it), a
// negative SkipCerts (4.2.1.11, 4.2.1.14), or a policy mapping whose OIDs
// are not valid DER (the parser does not check them).
func checkPolicyExtensions(c *x509.Certificate) error {
	seen := make(map[string]bool, len(c.Policies))
	for _, oid := range c.Policies {
		k := policyOIDKey(oid)
		if seen[k] {
			return fmt.Errorf("%w: policy %s appears twice", errPolicyMalformed, oid)
		}
		seen[k] = true
	}
	if c.RequireExplicitPolicy < 0 || c.InhibitPolicyMapping < 0 || c.InhibitAnyPolicy < 0 {
		return fmt.Errorf("%w: negative SkipCerts", errPolicyMalformed)
	}
	for _, m := range c.PolicyMappings {
		if !validPolicyOID(m.IssuerDomainPolicy) || !validPolicyOID(m.SubjectDomainPolicy) {
			return fmt.Errorf("%w: invalid OID in policy mappings", errPolicyMalformed)
		}
	}
	return nil
}

// skipCerts decodes one of crypto/x509's optional SkipCerts fields: value
// 0 with zero false means the field is absent.
func skipCerts(v int, zero bool) (int, bool) {
	if v == 0 && !zero {
		return 0, false
	}
	return v, true
}

// policyOIDKey is a map key for oid: its DER content octets, which are
// unique per OID.
func policyOIDKey(oid x509.OID) string {
	b, _ := oid.MarshalBinary() // never fails
	return string(b)
}

// validPolicyOID reports whether oid holds a valid DER encoding.
func validPolicyOID(oid x509.OID) bool {
	b, _ := oid.MarshalBinary()
	var check x509.OID
	return check.UnmarshalBinary(b) == nil
}

func containsPolicyOID(set []x509.OID, oid x509.OID) bool {
	for _, x := range set {
		if x.Equal(oid) {
			return true
		}
	}
	return false
}

func mustPolicyOID(arcs ...uint64) x509.OID {
	oid, err := x509.OIDFromInts(arcs)
	if err != nil {
		panic(err)
	}
	return oid
}
