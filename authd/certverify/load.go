package certverify

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Limits on the objects in one input. Callers bound the input's size; this
// bounds the parsing work done on it.
const (
	maxCertBlocks = 4096
	maxCRLBlocks  = 1024
)

// ErrNoContent is returned when input holds neither PEM blocks of the
// expected type nor a DER object.
var ErrNoContent = errors.New("no certificate or CRL found")

// ParseCertificates reads one DER certificate or any number of PEM
// "CERTIFICATE" blocks. It returns the certificates that parsed and, for
// those that did not, one error each (a file may mix good and bad ones).
// It returns ErrNoContent when data holds neither.
func ParseCertificates(data []byte) ([]*x509.Certificate, []error, error) {
	return parseObjects(data, "CERTIFICATE", maxCertBlocks, parseCertificate)
}

// ParseCRLs is ParseCertificates for "X509 CRL" blocks.
func ParseCRLs(data []byte) ([]*x509.RevocationList, []error, error) {
	return parseObjects(data, "X509 CRL", maxCRLBlocks, parseCRL)
}

func parseObjects[T any](data []byte, blockType string, limit int, parse func([]byte) (T, error)) ([]T, []error, error) {
	var (
		out  []T
		bad  []error
		seen int
	)
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != blockType {
			continue
		}
		seen++
		if seen > limit {
			return nil, nil, fmt.Errorf("more than %d %s blocks", limit, blockType)
		}
		v, err := parse(block.Bytes)
		if err != nil {
			bad = append(bad, fmt.Errorf("%s block %d: %w", blockType, seen, err))
			continue
		}
		out = append(out, v)
	}
	if seen > 0 {
		return out, bad, nil
	}
	// Not PEM: a DER object starts with a SEQUENCE.
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != 0x30 {
		return nil, nil, ErrNoContent
	}
	v, err := parse(data)
	if err != nil {
		return nil, []error{fmt.Errorf("DER %s: %w", blockType, err)}, nil
	}
	return []T{v}, nil, nil
}
