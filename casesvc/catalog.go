package casesvc

// Catalog is the insurer's editable data about claim types and documents (domain.md "Claim types and
// their documents"). The embedded default is catalog.json; an install may load its own file.
type Catalog struct {
	ClaimTypes []ClaimType             `json:"claim_types"`
	Documents  map[string]DocumentKind `json:"documents"`  // by kind id
	Conditions map[string]Text         `json:"conditions"` // condition id -> label
}

// Text is a string per language ("zh-TW", "en").
type Text map[string]string

// Get returns the text in lang, falling back to zh-TW, then en.
func (t Text) Get(lang string) string {
	if s, ok := t[lang]; ok && s != "" {
		return s
	}
	if s := t["zh-TW"]; s != "" {
		return s
	}
	return t["en"]
}

type ClaimType struct {
	ID        string   `json:"id"` // medical, accident, critical_illness, death, motor, property, travel
	Label     Text     `json:"label"`
	Documents []string `json:"documents"` // always required, in notice order
	// Conditional maps a condition id (an answer given while filing) to the extra documents it adds.
	Conditional map[string][]string `json:"conditional,omitempty"`
	// Questions are the condition ids the dialog asks about for this type (yes/no), in order.
	Questions []string `json:"questions,omitempty"`
}

type DocumentKind struct {
	ID          string `json:"id"`
	Label       Text   `json:"label"`
	Description Text   `json:"description"` // a plain description of what to send
}
