package vcard

import "errors"

// tlv is one BER-TLV element as SP 800-73-4 uses them: tags of one to
// three bytes, definite lengths up to three length bytes.
type tlv struct {
	tag   uint32
	value []byte
}

var errTLV = errors.New("malformed BER-TLV")

// parseTLVs splits b into consecutive TLVs; it fails on any trailing or
// truncated bytes.
func parseTLVs(b []byte) ([]tlv, error) {
	var out []tlv
	for len(b) > 0 {
		tag := uint32(b[0])
		i := 1
		if b[0]&0x1F == 0x1F { // multi-byte tag
			for {
				if i >= len(b) || i >= 3 { // at most three tag bytes
					return nil, errTLV
				}
				tag = tag<<8 | uint32(b[i])
				i++
				if b[i-1]&0x80 == 0 {
					break
				}
			}
		}
		if i >= len(b) {
			return nil, errTLV
		}
		l := int(b[i])
		i++
		if l&0x80 != 0 {
			n := l & 0x7F
			if n == 0 || n > 3 || i+n > len(b) {
				return nil, errTLV
			}
			l = 0
			for _, x := range b[i : i+n] {
				l = l<<8 | int(x)
			}
			i += n
		}
		if l > len(b)-i {
			return nil, errTLV
		}
		out = append(out, tlv{tag: tag, value: b[i : i+l]})
		b = b[i+l:]
	}
	return out, nil
}

// find returns the value of the first TLV with tag.
func find(ts []tlv, tag uint32) ([]byte, bool) {
	for _, t := range ts {
		if t.tag == tag {
			return t.value, true
		}
	}
	return nil, false
}

// appendTLV appends tag, the minimal definite length and value to dst.
func appendTLV(dst []byte, tag uint32, value []byte) []byte {
	switch {
	case tag > 0xFFFF:
		dst = append(dst, byte(tag>>16), byte(tag>>8), byte(tag))
	case tag > 0xFF:
		dst = append(dst, byte(tag>>8), byte(tag))
	default:
		dst = append(dst, byte(tag))
	}
	n := len(value)
	switch {
	case n < 0x80:
		dst = append(dst, byte(n))
	case n <= 0xFF:
		dst = append(dst, 0x81, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x82, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, value...)
}

// tlvs concatenates TLVs given as tag, value pairs.
func tlvs(ts ...tlv) []byte {
	var out []byte
	for _, t := range ts {
		out = appendTLV(out, t.tag, t.value)
	}
	return out
}
