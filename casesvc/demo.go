package casesvc

// DemoPolicies returns the policies a new install gets so every flow can be tried at once. They are
// listed in DEMO.md; every national ID passes the checksum (a test checks it).
func DemoPolicies() []*Policy {
	return []*Policy{
		{
			Number:  "HL20240017",
			Product: "安心健康醫療險",
			Holder: Person{
				Name: "王小明", NationalID: "A123456789", BirthDate: "1985-03-02",
				Phone: "+886912345678", Email: "xiaoming.wang@example.com",
			},
			ClaimTypes: []string{"medical", "accident", "critical_illness"},
			Status:     "active", Currency: "TWD",
		},
		{
			Number:  "MT20250088",
			Product: "Comprehensive Motor & Home",
			Holder: Person{
				Name: "David Lin", NationalID: "F128765439", BirthDate: "1990-07-15",
				Phone: "+886987654321", Email: "david.lin@example.com",
			},
			ClaimTypes: []string{"motor", "property"},
			Status:     "active", Currency: "TWD",
		},
		{
			Number:  "TR20250123",
			Product: "樂遊旅平險附加住宅火險",
			Holder: Person{
				Name: "陳美玲", NationalID: "B220198765", BirthDate: "1992-11-08",
				Phone: "+886933111222", Email: "meiling.chen@example.com",
			},
			ClaimTypes: []string{"travel", "property"},
			Status:     "active", Currency: "TWD",
		},
		{
			// The holder is the beneficiary; the insured is the one a death claim is about.
			Number:  "LF20190456",
			Product: "終身壽險附加意外醫療",
			Holder: Person{
				Name: "林淑芬", NationalID: "L203771544", BirthDate: "1970-09-12",
				Phone: "+886922333444",
			},
			Insured: &Person{
				Name: "林志強", NationalID: "E102314566", BirthDate: "1968-05-20",
			},
			ClaimTypes: []string{"death", "accident", "medical"},
			Status:     "active", Currency: "TWD",
		},
		{
			Number:  "HL20180999",
			Product: "安心健康醫療險（舊型）",
			Holder: Person{
				Name: "黃建國", NationalID: "H120588432", BirthDate: "1975-01-30",
				Phone: "+886955666777",
			},
			ClaimTypes: []string{"medical", "accident"},
			Status:     "lapsed", Currency: "TWD",
		},
	}
}
