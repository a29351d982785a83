// Package nlu is claimline's built-in understanding: intent classification and entity extraction for
// Traditional Chinese, Simplified Chinese and English, offline, with no downloads.
package nlu

import (
	"context"
	"regexp"
	"time"
)

// Intent names (spec/http-api.md section 3; fixed).
const (
	IntentFileClaim       = "file_claim"
	IntentSubmitDocuments = "submit_documents"
	IntentCheckProgress   = "check_progress"
	IntentComplaint       = "complaint"
	IntentHumanAgent      = "human_agent"
	IntentGreeting        = "greeting"
	IntentHelp            = "help"
	IntentCancel          = "cancel"
	IntentAffirm          = "affirm"
	IntentDeny            = "deny"
	IntentGoodbye         = "goodbye"
	IntentOutOfScope      = "out_of_scope"
)

// Entity types (spec/http-api.md section 3; fixed).
const (
	EntityDate         = "date"          // value: "YYYY-MM-DD" string
	EntityDateTime     = "datetime"      // value: RFC 3339 string in the configured zone
	EntityAmount       = "amount"        // value: float64
	EntityPhone        = "phone"         // value: E.164 string
	EntityNationalID   = "national_id"   // value: uppercase string, checksum-valid only
	EntityPolicyNumber = "policy_number" // value: uppercase string matching the configured pattern
	EntityCaseID       = "case_id"       // value: CLM-YYYYMMDD-NNNNNN
	EntityComplaintID  = "complaint_id"  // value: CMP-YYYYMMDD-NNNNNN
	EntityEmail        = "email"         // value: lowercase string
)

// Entity is one value found in a text. Start and End are offsets in Unicode code points.
type Entity struct {
	Type  string `json:"type"`
	Value any    `json:"value"`
	Text  string `json:"text"`
	Start int    `json:"start"`
	End   int    `json:"end"`
}

// Intent is an intent name with the classifier's confidence in [0, 1].
type Intent struct {
	Name       string  `json:"name"`
	Confidence float64 `json:"confidence"`
}

// Result is the parse of one message, shaped as the /api/v1/nlu/parse response.
type Result struct {
	Text          string   `json:"text"`
	Lang          string   `json:"lang"`
	Intent        Intent   `json:"intent"`
	IntentRanking []Intent `json:"intent_ranking"`
	Entities      []Entity `json:"entities"`
}

// Parser understands one message. lang may be "" (detected); now is the reference time for
// relative dates ("昨天", "last Friday"), interpreted in the configured zone.
type Parser interface {
	Parse(ctx context.Context, text, lang string, now time.Time) (Result, error)
}

// Config configures the built-in parser.
type Config struct {
	Location      *time.Location // zone for dates; default Asia/Taipei
	PolicyPattern *regexp.Regexp // default ^[A-Z]{2}\d{8}$ (the demo insurer's numbers)
}
