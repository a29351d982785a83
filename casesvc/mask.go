package casesvc

// ValidRole reports whether r is one of the four staff roles.
func ValidRole(r Role) bool {
	switch r {
	case RoleSpecialist, RoleSupervisor, RoleManager, RoleAdmin:
		return true
	}
	return false
}

// SeesUnmasked reports whether the role sees personal data whole (domain.md "Confidentiality").
// Admins run the system and make no case decisions, so they see masked data like specialists.
func (r Role) SeesUnmasked() bool { return r == RoleSupervisor || r == RoleManager }

// MaskNationalID keeps the first three and last three characters: "A123456789" -> "A12****789".
func MaskNationalID(id string) string {
	r := []rune(id)
	if len(r) <= 6 {
		return stars(len(r))
	}
	return string(r[:3]) + stars(len(r)-6) + string(r[len(r)-3:])
}

// MaskPhone hides the four characters before the last four: "+886912345678" -> "+8869****5678",
// "0912345678" -> "09****5678".
func MaskPhone(phone string) string {
	r := []rune(phone)
	if len(r) <= 8 {
		if len(r) <= 4 {
			return stars(len(r))
		}
		return stars(len(r)-4) + string(r[len(r)-4:])
	}
	return string(r[:len(r)-8]) + "****" + string(r[len(r)-4:])
}

// MaskBirthDate keeps the year only: "1985-03-02" -> "1985-**-**". The year stays because age
// matters to a claim and identifies nobody on its own.
func MaskBirthDate(d string) string {
	if len(d) == 10 && d[4] == '-' && d[7] == '-' {
		return d[:4] + "-**-**"
	}
	if d == "" {
		return ""
	}
	return "****-**-**"
}

func stars(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '*'
	}
	return string(b)
}

// Masked returns a copy of the person with national ID and birth date masked. The phone stays
// whole: staff need it to call the customer back.
func (p Person) Masked() Person {
	if p.NationalID != "" {
		p.NationalID = MaskNationalID(p.NationalID)
	}
	p.BirthDate = MaskBirthDate(p.BirthDate)
	return p
}

// MaskedFor returns the case as the role may see it: the receiver itself for supervisors and
// managers, otherwise a copy with the claimant's national ID and birth date masked.
func (c *Case) MaskedFor(role Role) *Case {
	if c == nil || role.SeesUnmasked() {
		return c
	}
	cp := *c
	cp.Claimant = c.Claimant.Masked()
	return &cp
}

// MaskedFor returns the policy as the role may see it (see Case.MaskedFor).
func (p *Policy) MaskedFor(role Role) *Policy {
	if p == nil || role.SeesUnmasked() {
		return p
	}
	cp := *p
	cp.Holder = p.Holder.Masked()
	if p.Insured != nil {
		in := p.Insured.Masked()
		cp.Insured = &in
	}
	cp.ClaimTypes = append([]string(nil), p.ClaimTypes...)
	return &cp
}
