package ledger

// AddHashed is AddDecoded with the entry's leaf hash computed by the caller,
// so that hashing can run on other cores while the chain is checked in
// order (bundle.Stream, liuhen verify). leaf must be LeafHash(e.Bytes): the
// verifier trusts its caller for it, not the entry's supplier.
func (v *ChainVerifier) AddHashed(e *Entry, leaf Hash) error {
	return v.addHashed(e, leaf)
}
