package dialog

import (
	"context"

	"claimline/casesvc"
)

// Effects of a turn whose message is not stored yet.
//
// The router may run a turn before the customer's message is stored, so that the message, the replies
// and the new state are written together when the turn is done: one write instead of two, and nothing
// is written for a turn that is thrown away. Such a turn is pure until it changes something outside the
// conversation — files a claim, attaches a document, files a complaint, asks for a person, records a
// rating. Those must never happen for a message that could still be lost (a crash before the write), so
// the engine calls the hook the router put in the turn's context before each of them, and skips the
// effect when the hook fails. The hook stores the message (once; later calls return at once) under the
// seq the turn was given in Input.Seq, so an idempotency key made from it names the stored message.
// When the hook fails, the router discards the turn's outcome and runs the turn again later, so what
// the dialog says about the failed effect is never shown.

// StoreInbound stores the inbound message of the running turn, or fails; see WithStoreBeforeEffects.
type StoreInbound func(ctx context.Context) error

type storeInboundKey struct{}

// WithStoreBeforeEffects returns a context for Turn whose effects are preceded by store (see above).
// Without it every message is taken as stored already.
func WithStoreBeforeEffects(ctx context.Context, store StoreInbound) context.Context {
	return context.WithValue(ctx, storeInboundKey{}, store)
}

// BeforeEffect has the turn's message stored, when the router asked for that (WithStoreBeforeEffects),
// and must succeed before the turn changes anything outside the conversation. The engine calls it
// for every such call of its Cases, Handoff and Ratings; another implementation of the router's
// Dialog must call it too.
func BeforeEffect(ctx context.Context) error {
	if store, ok := ctx.Value(storeInboundKey{}).(StoreInbound); ok {
		return store(ctx)
	}
	return nil
}

// guardedCases calls BeforeEffect before every call of Cases that changes the case service. Reads pass.
type guardedCases struct{ Cases }

func (g guardedCases) CreateCase(ctx context.Context, nc casesvc.NewCase) (*casesvc.Case, error) {
	if err := BeforeEffect(ctx); err != nil {
		return nil, err
	}
	return g.Cases.CreateCase(ctx, nc)
}

func (g guardedCases) AddDocument(ctx context.Context, caseID string, nd casesvc.NewDocument) (*casesvc.DocumentResult, error) {
	if err := BeforeEffect(ctx); err != nil {
		return nil, err
	}
	return g.Cases.AddDocument(ctx, caseID, nd)
}

func (g guardedCases) CreateComplaint(ctx context.Context, nc casesvc.NewComplaint) (*casesvc.Complaint, error) {
	if err := BeforeEffect(ctx); err != nil {
		return nil, err
	}
	return g.Cases.CreateComplaint(ctx, nc)
}

type guardedHandoff struct{ Handoff }

func (g guardedHandoff) RequestHandoff(ctx context.Context, r HandoffRequest) error {
	if err := BeforeEffect(ctx); err != nil {
		return err
	}
	return g.Handoff.RequestHandoff(ctx, r)
}

type guardedRatings struct{ Ratings }

func (g guardedRatings) RecordRating(ctx context.Context, conversation string, score int, comment string) error {
	if err := BeforeEffect(ctx); err != nil {
		return err
	}
	return g.Ratings.RecordRating(ctx, conversation, score, comment)
}

// guardEffects wraps the effectful dependencies of cfg; nil ones stay nil.
func guardEffects(cfg *Config) {
	cfg.Cases = guardedCases{cfg.Cases}
	if cfg.Handoff != nil {
		cfg.Handoff = guardedHandoff{cfg.Handoff}
	}
	if cfg.Ratings != nil {
		cfg.Ratings = guardedRatings{cfg.Ratings}
	}
}

// Interface guards
var (
	_ Cases   = guardedCases{}
	_ Handoff = guardedHandoff{}
	_ Ratings = guardedRatings{}
)
