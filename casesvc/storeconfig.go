package casesvc

import "time"

// StoreConfig is what every store of the case service (SQLite, PostgreSQL) is configured with: the
// catalog, the zone and clock, and the insurer's configurable deadlines and limits.
type StoreConfig struct {
	Catalog  *Catalog         // default DefaultCatalog()
	Location *time.Location   // zone for case ids and dates; default Asia/Taipei
	Now      func() time.Time // default time.Now; tests fix it to check ids and deadlines
	// DecisionDays and PaymentDays are counted from the day the documents are complete.
	DecisionDays int // default DefaultDecisionDays
	PaymentDays  int // default DefaultPaymentDays
	// FastTrackDecisionDays is the decision target of green-channel cases.
	FastTrackDecisionDays int // default DefaultFastTrackDecisionDays
	// JointReviewAbove is the amount above which a case needs a joint review.
	JointReviewAbove float64 // default DefaultJointReviewAbove
	// FirstResponseDays and ResolutionDays are a complaint's deadlines, counted from its filing.
	FirstResponseDays int // default DefaultFirstResponseDays
	ResolutionDays    int // default DefaultResolutionDays
	// MassComplaint configures mass-complaint detection (zero fields get the defaults).
	MassComplaint MassComplaintRules
}

// WithDefaults returns the configuration with every zero field set to its default.
func (c StoreConfig) WithDefaults() StoreConfig {
	if c.Catalog == nil {
		c.Catalog = DefaultCatalog()
	}
	if c.Location == nil {
		loc, err := time.LoadLocation("Asia/Taipei")
		if err != nil {
			loc = time.FixedZone("Asia/Taipei", 8*60*60) // no tzdata on the host; Taiwan has no DST
		}
		c.Location = loc
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	setDefault(&c.DecisionDays, DefaultDecisionDays)
	setDefault(&c.PaymentDays, DefaultPaymentDays)
	setDefault(&c.FastTrackDecisionDays, DefaultFastTrackDecisionDays)
	setDefault(&c.FirstResponseDays, DefaultFirstResponseDays)
	setDefault(&c.ResolutionDays, DefaultResolutionDays)
	setDefault(&c.MassComplaint.Threshold, DefaultMassComplaintThreshold)
	setDefault(&c.JointReviewAbove, DefaultJointReviewAbove)
	setDefault(&c.MassComplaint.Window, DefaultMassComplaintWindow)
	return c
}

func setDefault[T int | float64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
