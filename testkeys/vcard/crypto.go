package vcard

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"io"
	"math/big"
)

// generalAuthenticate is GENERAL AUTHENTICATE (87): P1 the algorithm, P2
// the key reference; data a dynamic authentication template 7C.
func (c *Card) generalAuthenticate(cmd Command) ([]byte, error) {
	ts, err := parseTLVs(cmd.Data)
	if err != nil || len(ts) != 1 || ts[0].tag != 0x7C {
		return nil, swErr(swIncorrectData, "GENERAL AUTHENTICATE wants one template 7C")
	}
	inner, err := parseTLVs(ts[0].value)
	if err != nil || len(inner) == 0 {
		return nil, swErr(swIncorrectData, "malformed template 7C")
	}
	if cmd.P2 == 0x9B {
		return c.mgmtAuthenticate(cmd.P1, inner)
	}
	if _, ok := slotObjects[cmd.P2]; !ok {
		return nil, swErr(swIncorrectP1P2, "key reference %02X", cmd.P2)
	}
	der, ok := c.st.Keys[slotName(cmd.P2)]
	if !ok {
		return nil, swErr(swRefDataNotFound, "no key in %02X", cmd.P2)
	}
	key, err := parseKey(der)
	if err != nil {
		return nil, swErr(swNoPreciseDiagnosis, "stored key unreadable")
	}
	if alg, _ := algOf(key); alg != cmd.P1 {
		return nil, swErr(swIncorrectP1P2, "algorithm %02X for a key of algorithm %02X", cmd.P1, alg)
	}
	if cmd.P2 != 0x9E && !c.vol.pinOK { // card authentication key needs no PIN
		return nil, swErr(swSecurityStatus, "PIN not verified")
	}
	resp, hasResp := find(inner, 0x82)
	challenge, hasChal := find(inner, 0x81)
	point, hasPoint := find(inner, 0x85)
	if !hasResp || len(resp) != 0 || hasChal == hasPoint || len(inner) != 2 {
		return nil, swErr(swIncorrectData, "template wants 82 00 and one of 81 or 85")
	}
	var out []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if !hasChal {
			return nil, swErr(swIncorrectData, "RSA key takes 81")
		}
		out, err = rawRSA(k, challenge)
	case *ecdsa.PrivateKey:
		if hasPoint {
			out, err = ecdhX(k, point)
		} else {
			size := (k.Curve.Params().BitSize + 7) / 8
			if len(challenge) == 0 || len(challenge) > 2*size {
				return nil, swErr(swIncorrectData, "hash of %d bytes", len(challenge))
			}
			out, err = ecdsa.SignASN1(c.rand, k, challenge)
			if err != nil {
				err = swErr(swNoPreciseDiagnosis, "sign: %v", err)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return tlvs(tlv{0x7C, tlvs(tlv{0x82, out})}), nil
}

// rawRSA is the RSA private-key operation on a block the host padded
// (PKCS#1 v1.5 or PSS for signing, or a ciphertext to decrypt). The result
// is checked with the public key before it leaves the card.
func rawRSA(k *rsa.PrivateKey, block []byte) ([]byte, error) {
	size := k.Size()
	m := new(big.Int).SetBytes(block)
	if len(block) != size || m.Cmp(k.N) >= 0 {
		return nil, swErr(swIncorrectData, "RSA input must be %d bytes below the modulus", size)
	}
	s := new(big.Int).Exp(m, k.D, k.N)
	if new(big.Int).Exp(s, big.NewInt(int64(k.E)), k.N).Cmp(m) != 0 {
		return nil, swErr(swNoPreciseDiagnosis, "RSA self-check failed")
	}
	return s.FillBytes(make([]byte, size)), nil
}

// ecdhX is key agreement with the key management key: the X coordinate of
// the shared point.
func ecdhX(k *ecdsa.PrivateKey, point []byte) ([]byte, error) {
	priv, err := k.ECDH()
	if err != nil {
		return nil, swErr(swNoPreciseDiagnosis, "ECDH key: %v", err)
	}
	var curve ecdh.Curve = ecdh.P256()
	if k.Curve == elliptic.P384() {
		curve = ecdh.P384()
	}
	pub, err := curve.NewPublicKey(point)
	if err != nil {
		return nil, swErr(swIncorrectData, "peer point")
	}
	secret, err := priv.ECDH(pub)
	if err != nil {
		return nil, swErr(swIncorrectData, "ECDH: %v", err)
	}
	return secret, nil
}

// mgmtCipher is the block cipher of the card management key.
func (c *Card) mgmtCipher() (cipher.Block, error) {
	if c.st.MgmtAlg == AlgAES128 {
		return aes.NewCipher(c.st.MgmtKey)
	}
	return des.NewTripleDESCipher(c.st.MgmtKey)
}

// mgmtAuthenticate runs SP 800-73-4's authentication of the host with the
// card management key (9B), in either form:
//
//	external: 7C{81 00} -> 7C{81 challenge}; 7C{82 E(challenge)} -> 9000
//	mutual:   7C{80 00} -> 7C{80 E(witness)}; 7C{80 witness, 81 c} -> 7C{82 E(c)}
func (c *Card) mgmtAuthenticate(alg byte, inner []tlv) ([]byte, error) {
	if alg == 0x00 {
		// SP 800-73-3 and OpenSC's GET CHALLENGE name no algorithm: the
		// card's management key algorithm is meant.
		alg = c.st.MgmtAlg
	}
	if alg != c.st.MgmtAlg {
		c.vol.mgmtStep = 0
		return nil, swErr(swIncorrectP1P2, "management key algorithm is %02X, not %02X", c.st.MgmtAlg, alg)
	}
	block, err := c.mgmtCipher()
	if err != nil {
		return nil, swErr(swNoPreciseDiagnosis, "management key: %v", err)
	}
	bs := block.BlockSize()
	step, expect := c.vol.mgmtStep, c.vol.mgmtChallenge
	c.vol.mgmtStep, c.vol.mgmtChallenge = 0, nil
	c.vol.mgmtOK = false
	witness, hasW := find(inner, 0x80)
	chal, hasC := find(inner, 0x81)
	resp, hasR := find(inner, 0x82)
	fresh := func() ([]byte, error) {
		b := make([]byte, bs)
		if _, err := io.ReadFull(c.rand, b); err != nil {
			return nil, swErr(swNoPreciseDiagnosis, "random: %v", err)
		}
		return b, nil
	}
	switch {
	case len(inner) == 1 && hasW && len(witness) == 0: // mutual, step 1
		w, err := fresh()
		if err != nil {
			return nil, err
		}
		enc := make([]byte, bs)
		block.Encrypt(enc, w)
		c.vol.mgmtStep, c.vol.mgmtChallenge = 0x80, w
		return tlvs(tlv{0x7C, tlvs(tlv{0x80, enc})}), nil
	case len(inner) == 2 && hasW && hasC && step == 0x80: // mutual, step 2
		if len(witness) != bs || len(chal) != bs || subtle.ConstantTimeCompare(witness, expect) != 1 {
			return nil, swErr(swSecurityStatus, "management key: wrong witness")
		}
		enc := make([]byte, bs)
		block.Encrypt(enc, chal)
		c.vol.mgmtOK = true
		return tlvs(tlv{0x7C, tlvs(tlv{0x82, enc})}), nil
	case len(inner) == 1 && hasC && len(chal) == 0: // external, step 1
		ch, err := fresh()
		if err != nil {
			return nil, err
		}
		c.vol.mgmtStep, c.vol.mgmtChallenge = 0x81, ch
		return tlvs(tlv{0x7C, tlvs(tlv{0x81, ch})}), nil
	case len(inner) == 1 && hasR && step == 0x81: // external, step 2
		want := make([]byte, bs)
		block.Encrypt(want, expect)
		if len(resp) != bs || subtle.ConstantTimeCompare(resp, want) != 1 {
			return nil, swErr(swSecurityStatus, "management key: wrong response")
		}
		c.vol.mgmtOK = true
		return nil, nil
	}
	return nil, swErr(swIncorrectData, "management key authentication out of sequence")
}

// generate is GENERATE ASYMMETRIC KEY PAIR (47, P2 the key reference; data
// AC{80 alg}), guarded by the card management key. It answers the public
// key: 7F49{81 n, 82 e} or 7F49{86 point}.
func (c *Card) generate(cmd Command) ([]byte, error) {
	if cmd.P1 != 0x00 {
		return nil, swErr(swIncorrectP1P2, "GENERATE P1 %02X", cmd.P1)
	}
	if _, ok := slotObjects[cmd.P2]; !ok {
		return nil, swErr(swIncorrectP1P2, "key reference %02X", cmd.P2)
	}
	if !c.vol.mgmtOK {
		return nil, swErr(swSecurityStatus, "GENERATE needs the card management key")
	}
	ts, err := parseTLVs(cmd.Data)
	if err != nil || len(ts) != 1 || ts[0].tag != 0xAC {
		return nil, swErr(swIncorrectData, "GENERATE wants a control template AC")
	}
	params, err := parseTLVs(ts[0].value)
	alg, ok := find(params, 0x80)
	if err != nil || !ok || len(alg) != 1 {
		return nil, swErr(swIncorrectData, "GENERATE wants 80 <algorithm>")
	}
	var key crypto.Signer
	var pub []byte
	switch alg[0] {
	case AlgRSA2048:
		k, err := c.generateRSA()
		if err != nil {
			return nil, swErr(swNoPreciseDiagnosis, "generate: %v", err)
		}
		key = k
		pub = tlvs(tlv{0x81, k.N.Bytes()}, tlv{0x82, big.NewInt(int64(k.E)).Bytes()})
	case AlgECCP256, AlgECCP384:
		curve := elliptic.P256()
		if alg[0] == AlgECCP384 {
			curve = elliptic.P384()
		}
		k, err := ecdsa.GenerateKey(curve, c.rand)
		if err != nil {
			return nil, swErr(swNoPreciseDiagnosis, "generate: %v", err)
		}
		key = k
		ek, err := k.PublicKey.ECDH()
		if err != nil {
			return nil, swErr(swNoPreciseDiagnosis, "generate: %v", err)
		}
		pub = tlvs(tlv{0x86, ek.Bytes()})
	default:
		return nil, swErr(swIncorrectData, "algorithm %02X cannot be generated", alg[0])
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, swErr(swNoPreciseDiagnosis, "encode key: %v", err)
	}
	if err := c.commit(func(st *State) { st.Keys[slotName(cmd.P2)] = der }); err != nil {
		return nil, err
	}
	return tlvs(tlv{0x7F49, pub}), nil
}
