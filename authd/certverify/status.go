package certverify

import "time"

// revStatus is the revocation status of one certificate as far as one
// source (CRLs, OCSP) could establish it.
type revStatus int

const (
	statusUnknown revStatus = iota // could not be established
	statusGood                     // established as not revoked
	statusRevoked                  // established as revoked
)

func (s revStatus) String() string {
	switch s {
	case statusGood:
		return "good"
	case statusRevoked:
		return "revoked"
	default:
		return "unknown"
	}
}

// revResult is what a revocation source says about one certificate.
type revResult struct {
	status    revStatus
	revokedAt time.Time // when status is statusRevoked
	reason    int       // RFC 5280 CRLReason when status is statusRevoked
	// err says why the status is unknown (or gives detail for the log);
	// it may be set alongside statusGood/statusRevoked for context.
	err error
}
