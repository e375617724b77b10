package ledger

import (
	"crypto/sha256"
	"encoding/base64"
	"math/rand/v2"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// mth is RFC 6962 §2.1's Merkle Tree Hash, written straight from the RFC
// over leaf hashes, as an independent reference for the stored tree.
func mth(leaves []Hash) Hash {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := mth(leaves[:k]), mth(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func proofBytes(p []Hash) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}

func buildLedger(t testing.TB, n int) (*Ledger, []Hash) {
	t.Helper()
	l := newTestLedger(t, testConfig(t, nil))
	leaves := make([]Hash, 0, n)
	for i := 0; i < n; i += 500 {
		var batch [][]byte
		for j := i; j < min(i+500, n); j++ {
			batch = append(batch, rec(j, j%9))
		}
		for _, r := range mustAppend(t, l, batch...) {
			leaves = append(leaves, r.Hash)
		}
	}
	return l, leaves
}

// TestProofsAllSizes checks, for every tree size up to 300, the root against
// the RFC's definition, every inclusion proof and every consistency proof
// with transparency-dev/merkle's verifier (a second, independent library).
func TestProofsAllSizes(t *testing.T) {
	const max = 300
	l, leaves := buildLedger(t, max)
	h := rfc6962.DefaultHasher
	for n := uint64(1); n <= max; n++ {
		root, err := l.RootAt(n)
		if err != nil {
			t.Fatal(err)
		}
		if want := mth(leaves[:n]); root != want {
			t.Fatalf("RootAt(%d) = %s, RFC 6962 MTH = %s", n, Hex(root), Hex(want))
		}
		for i := uint64(0); i < n; i++ {
			p, err := l.InclusionProof(i, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(h, i, n, leaves[i][:], proofBytes(p), root[:]); err != nil {
				t.Fatalf("InclusionProof(%d, %d) does not verify: %v", i, n, err)
			}
		}
		for m := uint64(1); m < n; m++ {
			p, err := l.ConsistencyProof(m, n)
			if err != nil {
				t.Fatal(err)
			}
			old := mth(leaves[:m])
			if err := proof.VerifyConsistency(h, m, n, proofBytes(p), old[:], root[:]); err != nil {
				t.Fatalf("ConsistencyProof(%d, %d) does not verify: %v", m, n, err)
			}
		}
	}
	if _, err := l.ConsistencyProof(0, 5); err == nil {
		t.Fatal("ConsistencyProof(0, n) succeeded: a proof from the empty tree proves nothing")
	}
	if _, err := l.InclusionProof(max, max); err == nil {
		t.Fatal("InclusionProof beyond the tree succeeded")
	}
}

func TestProofsRandomSizes(t *testing.T) {
	n := 6000
	if testing.Short() {
		n = 2000
	}
	l, leaves := buildLedger(t, n)
	rng := rand.New(rand.NewPCG(1, 2))
	h := rfc6962.DefaultHasher
	roots := map[uint64]Hash{}
	rootOf := func(s uint64) Hash {
		if r, ok := roots[s]; ok {
			return r
		}
		roots[s] = mth(leaves[:s])
		return roots[s]
	}
	for range 300 {
		size := 1 + rng.Uint64N(uint64(n))
		i := rng.Uint64N(size)
		root := rootOf(size)
		p, err := l.InclusionProof(i, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(h, i, size, leaves[i][:], proofBytes(p), root[:]); err != nil {
			t.Fatalf("InclusionProof(%d, %d): %v", i, size, err)
		}
		m := 1 + rng.Uint64N(size)
		old := rootOf(m)
		cp, err := l.ConsistencyProof(m, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(h, m, size, proofBytes(cp), old[:], root[:]); err != nil {
			t.Fatalf("ConsistencyProof(%d, %d): %v", m, size, err)
		}
		// A proof for another leaf must not verify.
		if i+1 < size {
			if err := proof.VerifyInclusion(h, i+1, size, leaves[i][:], proofBytes(p), root[:]); err == nil && leaves[i] != leaves[i+1] {
				t.Fatalf("InclusionProof(%d, %d) verified for leaf %d", i, size, i+1)
			}
		}
	}
}

func sha256Leaf(b []byte) Hash { return sha256.Sum256(append([]byte{0}, b...)) }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
