package handoff

import (
	"context"

	"claimline/channels"
)

// Holding reports whether a person holds the conversation now: queued, with an agent, or leaving a
// call-back note (channels.HoldReporter). The router asks before a turn that would store the
// customer's message m together with its answer (channels.Router.Converse): a held conversation's
// message is stored first, since Intercept answers it with effects of its own. Holds begin only in
// the conversation's own turns (RequestHandoff), so the answer holds for the turn about to run.
// When it is not held, m is noted as Intercept notes every customer message, since the router does
// not call Intercept for it. With several nodes the answer is the shared list's: one HEXISTS.
func (s *Service) Holding(ctx context.Context, conv *channels.Conversation, m channels.Message) (bool, error) {
	if s.sh != nil {
		if held, err := s.sh.held(ctx, conv.ID); err != nil || held {
			return held, err
		}
	} else if _, held := s.Hold(conv.ID); held {
		return true, nil
	}
	s.noteCustomer(ctx, conv, m)
	return false, nil
}

// Interface guards
var _ channels.HoldReporter = (*Service)(nil)
