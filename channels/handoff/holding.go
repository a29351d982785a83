package handoff

import (
	"context"
	"time"

	"claimline/channels"
)

// Holding reports whether a person holds the conversation now: queued, with an agent, or leaving a
// call-back note. The router asks before a turn that would store the customer's message together
// with its answer (channels.Router.Converse): a held conversation's message is stored first, since
// Intercept answers it with effects of its own. Holds begin only in the conversation's own turns
// (RequestHandoff), so the answer holds for the turn about to run.
//
// With several nodes the answer is the shared list's (one HEXISTS; a failed read answers true, so
// the message is stored first and Intercept, which reads again, decides).
func (s *Service) Holding(conversation string) bool {
	if s.sh != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		held, err := s.sh.held(ctx, conversation)
		if err != nil {
			s.log.Error("handoff: read hold", "err", err)
			return true
		}
		return held
	}
	_, held := s.Hold(conversation)
	return held
}

// Interface guards
var _ channels.HoldReporter = (*Service)(nil)
