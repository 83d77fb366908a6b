package vcard

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Status words the card answers with (ISO 7816-4 and SP 800-73-4 part 2).
const (
	swOK                 = 0x9000
	swMoreData           = 0x6100 // low byte: bytes still available (0 = 256 or more)
	swVerifyFail         = 0x63C0 // low nibble: tries left
	swMemoryFailure      = 0x6581
	swWrongLength        = 0x6700
	swLastCmdExpected    = 0x6883
	swChainingNotSupp    = 0x6884
	swSecurityStatus     = 0x6982
	swAuthBlocked        = 0x6983
	swConditionsNotMet   = 0x6985
	swIncorrectData      = 0x6A80
	swFuncNotSupported   = 0x6A81
	swNotFound           = 0x6A82
	swIncorrectP1P2      = 0x6A86
	swRefDataNotFound    = 0x6A88
	swINSNotSupported    = 0x6D00
	swCLANotSupported    = 0x6E00
	swNoPreciseDiagnosis = 0x6F00
)

// StatusError is a card answer that is not 9000: the status word the card
// returns for a command it refused.
type StatusError struct {
	SW     uint16
	Reason string
}

func (e *StatusError) Error() string { return fmt.Sprintf("SW %04X: %s", e.SW, e.Reason) }

func swErr(sw uint16, format string, args ...any) error {
	return &StatusError{SW: sw, Reason: fmt.Sprintf(format, args...)}
}

// swOf maps an error from a handler to the status word to send.
func swOf(err error) uint16 {
	var se *StatusError
	if errors.As(err, &se) {
		return se.SW
	}
	return swNoPreciseDiagnosis
}

// Command is one parsed command APDU (ISO 7816-3 12.1, short or extended).
type Command struct {
	CLA, INS, P1, P2 byte
	Data             []byte
	// Ne is the number of response bytes the terminal expects: 0 when the
	// command has no Le field, else 1..256 (short) or 1..65536 (extended).
	Ne       int
	Extended bool
}

// Chained reports whether the command is a non-final part of a chain.
func (c Command) Chained() bool { return c.CLA&0x10 != 0 }

// ParseCommand parses a command APDU strictly: every byte must belong to
// one of the four cases in short or extended form. A malformed APDU yields a
// *StatusError with SW 6700 (wrong length).
func ParseCommand(b []byte) (Command, error) {
	if len(b) < 4 {
		return Command{}, swErr(swWrongLength, "APDU of %d bytes is shorter than its header", len(b))
	}
	c := Command{CLA: b[0], INS: b[1], P1: b[2], P2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
		return c, nil
	case len(body) == 1: // case 2 short
		c.Ne = int(body[0])
		if c.Ne == 0 {
			c.Ne = 256
		}
		return c, nil
	case body[0] != 0: // case 3 or 4 short
		lc := int(body[0])
		switch len(body) {
		case 1 + lc:
			c.Data = body[1:]
		case 2 + lc:
			c.Data = body[1 : 1+lc]
			c.Ne = int(body[1+lc])
			if c.Ne == 0 {
				c.Ne = 256
			}
		default:
			return Command{}, swErr(swWrongLength, "short Lc %d does not match %d body bytes", lc, len(body))
		}
		return c, nil
	}
	// body[0] == 0 and more bytes follow: extended length.
	c.Extended = true
	if len(body) < 3 {
		return Command{}, swErr(swWrongLength, "truncated extended length")
	}
	n := int(binary.BigEndian.Uint16(body[1:3]))
	if len(body) == 3 { // case 2 extended
		c.Ne = n
		if c.Ne == 0 {
			c.Ne = 65536
		}
		return c, nil
	}
	if n == 0 {
		return Command{}, swErr(swWrongLength, "extended Lc of 0")
	}
	switch len(body) {
	case 3 + n: // case 3 extended
		c.Data = body[3:]
	case 5 + n: // case 4 extended
		c.Data = body[3 : 3+n]
		c.Ne = int(binary.BigEndian.Uint16(body[3+n:]))
		if c.Ne == 0 {
			c.Ne = 65536
		}
	default:
		return Command{}, swErr(swWrongLength, "extended Lc %d does not match %d body bytes", n, len(body))
	}
	return c, nil
}

// Bytes encodes the command, short form when it fits unless Extended.
func (c Command) Bytes() []byte {
	out := []byte{c.CLA, c.INS, c.P1, c.P2}
	ext := c.Extended || len(c.Data) > 255 || c.Ne > 256
	if !ext {
		if len(c.Data) > 0 {
			out = append(out, byte(len(c.Data)))
			out = append(out, c.Data...)
		}
		if c.Ne > 0 {
			out = append(out, byte(c.Ne)) // 256 encodes as 0
		}
		return out
	}
	if len(c.Data) > 0 {
		out = append(out, 0, byte(len(c.Data)>>8), byte(len(c.Data)))
		out = append(out, c.Data...)
		if c.Ne > 0 {
			out = append(out, byte(c.Ne>>8), byte(c.Ne)) // 65536 encodes as 0000
		}
		return out
	}
	if c.Ne > 0 {
		out = append(out, 0, byte(c.Ne>>8), byte(c.Ne))
	}
	return out
}
