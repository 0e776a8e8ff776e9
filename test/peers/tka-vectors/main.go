// Tailnet-lock test vectors from tailscale's own tka package (the pinned
// tailscale.com module), for meshwrt's control/tka.ts:
//
//	tka-vectors gen                     JSON: keys, a direct node-key signature that
//	                                    lets the router's NLKey rotate it, tailscale's
//	                                    ResignNKS chain over 17 node keys, a genesis AUM
//	tka-vectors verify AUM NODEKEY SIG  "ok" when tailscale's Authority (bootstrapped
//	                                    from the genesis AUM, hex) accepts the node-key
//	                                    signature (hex) for the node key (hex), else the error
//
// Keys come from fixed seeds: the output is the same on every run.
package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"go4.org/mem"
	"tailscale.com/tka"
	"tailscale.com/types/key"
	"tailscale.com/types/tkatype"
)

func seed(b byte) []byte {
	s := make([]byte, 32)
	for i := range s {
		s[i] = b
	}
	return s
}

func nlKey(b byte) key.NLPrivate {
	var k key.NLPrivate
	if err := k.UnmarshalText([]byte("nlpriv:" + hex.EncodeToString(ed25519.NewKeyFromSeed(seed(b))))); err != nil {
		panic(err)
	}
	return k
}

func nodeKey(i int) key.NodePublic {
	raw := seed(byte(0x40 + i))
	return key.NodePublicFromRaw32(mem.B(raw))
}

func rawHex(k key.NodePublic) string {
	raw := k.Raw32()
	return hex.EncodeToString(raw[:])
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func genesis(lock key.NLPrivate) (*tka.Authority, tka.AUM) {
	lockKey := tka.Key{Kind: tka.Key25519, Public: lock.Public().Verifier(), Votes: 1}
	a, aum, err := tka.Create(tka.ChonkMem(), tka.State{
		Keys:              []tka.Key{lockKey},
		DisablementValues: [][]byte{tka.DisablementKDF(seed(0x77))},
		StateID1:          1,
		StateID2:          2,
	}, lock)
	if err != nil {
		panic(err)
	}
	return a, aum
}

func main() {
	lock := nlKey(0x11)   // the tailnet's trusted lock key (`tailscale lock sign` runs with it)
	router := nlKey(0x22) // the router's own NLKey: rotation signatures are made with it
	if len(os.Args) > 1 && os.Args[1] == "verify" {
		aum := new(tka.AUM)
		if err := aum.Unserialize(must(hex.DecodeString(os.Args[2]))); err != nil {
			fmt.Println("bad AUM:", err)
			return
		}
		a, err := tka.Bootstrap(tka.ChonkMem(), *aum)
		if err != nil {
			fmt.Println("bootstrap:", err)
			return
		}
		nk := key.NodePublicFromRaw32(mem.B(must(hex.DecodeString(os.Args[3]))))
		if err := a.NodeKeyAuthorized(nk, must(hex.DecodeString(os.Args[4]))); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("ok")
		return
	}

	_, aum := genesis(lock)
	// `tailscale lock sign nodekey:... nlpub:...`: a direct signature whose wrapping key is the router's NLKey.
	direct := tka.NodeKeySignature{
		SigKind:        tka.SigDirect,
		KeyID:          lock.KeyID(),
		Pubkey:         must(nodeKey(0).MarshalBinary()),
		WrappingPubkey: router.Public().Verifier(),
	}
	h := direct.SigHash()
	direct.Signature = must(lock.SignNKS(h))
	sigs := []string{}
	nodeKeys := []string{rawHex(nodeKey(0))}
	prev := tkatype.MarshaledSignature(direct.Serialize())
	for i := 1; i <= 17; i++ {
		prev = must(tka.ResignNKS(router, nodeKey(i), prev))
		sigs = append(sigs, hex.EncodeToString(prev))
		nodeKeys = append(nodeKeys, rawHex(nodeKey(i)))
	}
	out := map[string]any{
		"lockPrivate":     string(must(lock.MarshalText())),
		"lockPublic":      string(must(lock.Public().MarshalText())),
		"routerNLPrivate": string(must(router.MarshalText())),
		"routerNLPublic":  string(must(router.Public().MarshalText())),
		"routerNLKeyID":   hex.EncodeToString(router.KeyID()),
		"nodeKeys":        nodeKeys,
		"direct":          hex.EncodeToString(direct.Serialize()),
		"directSigHash":   hex.EncodeToString(h[:]),
		"rotations":       sigs,
		"genesisAUM":      hex.EncodeToString(aum.Serialize()),
		"genesisAUMHash":  aum.Hash().String(),
		"otherNLPrivate":  string(must(nlKey(0x33).MarshalText())),
	}
	b := must(json.MarshalIndent(out, "", " "))
	os.Stdout.Write(append(b, '\n'))
}
