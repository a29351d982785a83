package handoff

import "claimline/channels"

// Holding reports whether a person holds the conversation now: queued, with an agent, or leaving a
// call-back note. The router asks before a turn that would store the customer's message together
// with its answer (channels.Router.Converse): a held conversation's message is stored first, since
// Intercept answers it with effects of its own. Holds begin only in the conversation's own turns
// (RequestHandoff), so the answer holds for the turn about to run.
func (s *Service) Holding(conversation string) bool {
	_, held := s.Hold(conversation)
	return held
}

// Interface guards
var _ channels.HoldReporter = (*Service)(nil)
