package compliance

// VerifyPartial makes p check every partial evaluation against a full one.
func VerifyPartial(p *Projection) { p.verify = true }
