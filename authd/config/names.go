package config

import "crypto/x509"

func validOID(s string) bool {
	_, err := x509.ParseOID(s)
	return err == nil
}
