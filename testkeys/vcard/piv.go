package vcard

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"slices"
)

// applicationPropertyTemplate is SELECT's answer (SP 800-73-4 part 2,
// 3.1.1): the PIX of the PIV AID, the coexistent tag allocation authority
// and the algorithms the card supports.
func applicationPropertyTemplate() []byte {
	alg := func(id byte) tlv { return tlv{0xAC, tlvs(tlv{0x80, []byte{id}}, tlv{0x06, nil})} }
	return tlvs(tlv{0x61, tlvs(
		tlv{0x4F, pivAID[5:]},
		tlv{0x79, tlvs(tlv{0x4F, pivAID[:5]})},
		tlv{0x50, []byte("spine vcard PIV")},
		alg(AlgRSA2048), alg(AlgECCP256), alg(AlgECCP384), alg(Alg3DES), alg(AlgAES128),
	)})
}

// discoveryObject: the PIV AID and a PIN usage policy of "PIV PIN only".
func discoveryObject() []byte {
	return tlvs(tlv{0x7E, tlvs(tlv{0x4F, pivAID}, tlv{0x5F2F, []byte{0x40, 0x00}})})
}

// selectApp is SELECT by DF name (P1=04). A right-truncated AID of at
// least the 5-byte RID selects PIV too, as SP 800-73-4 allows.
func (c *Card) selectApp(cmd Command) ([]byte, error) {
	if cmd.P1 != 0x04 || cmd.P2 != 0x00 {
		if cmd.P1 == 0x04 {
			return nil, swErr(swIncorrectP1P2, "SELECT P2 %02X", cmd.P2)
		}
		return nil, swErr(swNotFound, "SELECT by P1 %02X (only by AID)", cmd.P1)
	}
	if len(cmd.Data) < 5 || len(cmd.Data) > len(pivAID) || !bytes.HasPrefix(pivAID, cmd.Data) {
		// ISO 7816-4: a failed SELECT leaves the current selection (and
		// its security status) as it was.
		return nil, swErr(swNotFound, "no application %X", cmd.Data)
	}
	c.vol.selected = true
	if cmd.Ne == 0 {
		return nil, nil
	}
	return applicationPropertyTemplate(), nil
}

// getData is GET DATA (CB 3F FF, data 5C <tag>).
func (c *Card) getData(cmd Command) ([]byte, error) {
	if cmd.P1 != 0x3F || cmd.P2 != 0xFF {
		return nil, swErr(swIncorrectP1P2, "GET DATA P1P2 %02X%02X", cmd.P1, cmd.P2)
	}
	ts, err := parseTLVs(cmd.Data)
	if err != nil || len(ts) != 1 || ts[0].tag != 0x5C || len(ts[0].value) < 1 || len(ts[0].value) > 3 {
		return nil, swErr(swIncorrectData, "GET DATA wants one tag list 5C")
	}
	tag := tagOf(ts[0].value)
	if tag == 0x7E {
		return discoveryObject(), nil
	}
	if !writableObject(tag) {
		return nil, swErr(swNotFound, "no data object %X", tag)
	}
	v, ok := c.st.Objects[objName(tag)]
	if !ok {
		return nil, swErr(swNotFound, "data object %X absent", tag)
	}
	switch tag {
	case 0x5FC103, 0x5FC108, 0x5FC109, 0x5FC121: // biometrics, printed information
		if !c.vol.pinOK {
			return nil, swErr(swSecurityStatus, "PIN required to read %X", tag)
		}
	}
	return appendTLV(nil, 0x53, v), nil
}

// putData is PUT DATA (DB 3F FF, data 5C <tag> 53 <value>), guarded by the
// card management key. An empty 53 deletes the object.
func (c *Card) putData(cmd Command) ([]byte, error) {
	if cmd.P1 != 0x3F || cmd.P2 != 0xFF {
		return nil, swErr(swIncorrectP1P2, "PUT DATA P1P2 %02X%02X", cmd.P1, cmd.P2)
	}
	if !c.vol.mgmtOK {
		return nil, swErr(swSecurityStatus, "PUT DATA needs the card management key")
	}
	ts, err := parseTLVs(cmd.Data)
	if err != nil || len(ts) != 2 || ts[0].tag != 0x5C || ts[1].tag != 0x53 ||
		len(ts[0].value) < 2 || len(ts[0].value) > 3 {
		return nil, swErr(swIncorrectData, "PUT DATA wants 5C <tag> 53 <value>")
	}
	tag := tagOf(ts[0].value)
	if !writableObject(tag) {
		return nil, swErr(swIncorrectData, "data object %X cannot be written", tag)
	}
	if _, err := parseTLVs(ts[1].value); err != nil {
		return nil, swErr(swIncorrectData, "data object %X is not BER-TLV", tag)
	}
	name := objName(tag)
	value := slices.Clone(ts[1].value)
	return nil, c.commit(func(st *State) {
		if len(value) == 0 {
			delete(st.Objects, name)
		} else {
			st.Objects[name] = value
		}
	})
}

// unpad reads 8 bytes of reference data: 6-8 bytes then FF padding.
func unpad(b []byte) (Secret, bool) {
	if len(b) != 8 {
		return nil, false
	}
	n := bytes.IndexByte(b, 0xFF)
	if n < 0 {
		n = 8
	}
	if n < 6 {
		return nil, false
	}
	for _, x := range b[n:] {
		if x != 0xFF {
			return nil, false
		}
	}
	return Secret(b[:n]), true
}

func equal(a, b Secret) bool {
	// Pad both to 8 so the comparison takes the same time for any length.
	var x, y [8]byte
	for i := range x {
		x[i], y[i] = 0xFF, 0xFF
	}
	copy(x[:], a)
	copy(y[:], b)
	return subtle.ConstantTimeCompare(x[:], y[:]) == 1 && len(a) == len(b)
}

// checkPINTry spends one try of the PIN (puk false) or PUK, saving the
// spent try before comparing, and gives it back on a match.
func (c *Card) checkTry(puk bool, given Secret) error {
	tries, ref := c.st.PINTries, c.st.PIN
	if puk {
		tries, ref = c.st.PUKTries, c.st.PUK
	}
	if tries <= 0 {
		return swErr(swAuthBlocked, "blocked")
	}
	if err := c.commit(func(st *State) {
		if puk {
			st.PUKTries--
		} else {
			st.PINTries--
		}
	}); err != nil {
		return err
	}
	if !equal(given, ref) {
		left := tries - 1
		return swErr(swVerifyFail|uint16(left), "wrong reference data, %d tries left", left)
	}
	return c.commit(func(st *State) {
		if puk {
			st.PUKTries = MaxTries
		} else {
			st.PINTries = MaxTries
		}
	})
}

// verify is VERIFY (20) of the PIV PIN (key reference 80).
func (c *Card) verify(cmd Command) ([]byte, error) {
	if cmd.P2 != 0x80 {
		return nil, swErr(swRefDataNotFound, "VERIFY key reference %02X (only 80)", cmd.P2)
	}
	switch cmd.P1 {
	case 0xFF: // reset the security status
		if len(cmd.Data) != 0 {
			return nil, swErr(swWrongLength, "VERIFY P1=FF takes no data")
		}
		c.vol.pinOK = false
		return nil, nil
	case 0x00:
	default:
		return nil, swErr(swIncorrectP1P2, "VERIFY P1 %02X", cmd.P1)
	}
	if len(cmd.Data) == 0 { // status query
		switch {
		case c.vol.pinOK:
			return nil, nil
		case c.st.PINTries == 0:
			return nil, swErr(swAuthBlocked, "PIN blocked")
		}
		return nil, swErr(swVerifyFail|uint16(c.st.PINTries), "PIN not verified")
	}
	pin, ok := unpad(cmd.Data)
	if !ok || checkPIN(pin) != nil {
		return nil, swErr(swIncorrectData, "PIN format")
	}
	c.vol.pinOK = false
	if err := c.checkTry(false, pin); err != nil {
		return nil, err
	}
	c.vol.pinOK = true
	return nil, nil
}

// changeReference is CHANGE REFERENCE DATA (24) of the PIN (80) or PUK
// (81): old value then new value, 8 bytes each.
func (c *Card) changeReference(cmd Command) ([]byte, error) {
	if cmd.P1 != 0x00 || (cmd.P2 != 0x80 && cmd.P2 != 0x81) {
		return nil, swErr(swIncorrectP1P2, "CHANGE REFERENCE DATA %02X%02X", cmd.P1, cmd.P2)
	}
	if len(cmd.Data) != 16 {
		return nil, swErr(swWrongLength, "CHANGE REFERENCE DATA wants 16 bytes")
	}
	puk := cmd.P2 == 0x81
	old, ok1 := unpad(cmd.Data[:8])
	next, ok2 := unpad(cmd.Data[8:])
	check := checkPIN
	if puk {
		check = checkPUK
	}
	if !ok1 || !ok2 || check(old) != nil || check(next) != nil {
		return nil, swErr(swIncorrectData, "reference data format")
	}
	if err := c.checkTry(puk, old); err != nil {
		if !puk {
			c.vol.pinOK = false
		}
		return nil, err
	}
	next = slices.Clone(next)
	return nil, c.commit(func(st *State) {
		if puk {
			st.PUK = next
		} else {
			st.PIN = next
		}
	})
}

// resetRetryCounter is RESET RETRY COUNTER (2C, P2=80): the PUK, then the
// new PIN. It unblocks a blocked PIN.
func (c *Card) resetRetryCounter(cmd Command) ([]byte, error) {
	if cmd.P1 != 0x00 || cmd.P2 != 0x80 {
		return nil, swErr(swIncorrectP1P2, "RESET RETRY COUNTER %02X%02X", cmd.P1, cmd.P2)
	}
	if len(cmd.Data) != 16 {
		return nil, swErr(swWrongLength, "RESET RETRY COUNTER wants 16 bytes")
	}
	puk, ok1 := unpad(cmd.Data[:8])
	pin, ok2 := unpad(cmd.Data[8:])
	if !ok1 || !ok2 || checkPUK(puk) != nil || checkPIN(pin) != nil {
		return nil, swErr(swIncorrectData, "reference data format")
	}
	if err := c.checkTry(true, puk); err != nil {
		return nil, err
	}
	pin = slices.Clone(pin)
	c.vol.pinOK = false
	return nil, c.commit(func(st *State) {
		st.PIN = pin
		st.PINTries = MaxTries
	})
}

// objName is the state file's name of a data object: its tag in hex.
func objName(tag uint32) string {
	if tag <= 0xFFFF {
		return fmt.Sprintf("%04x", tag)
	}
	return fmt.Sprintf("%06x", tag)
}
