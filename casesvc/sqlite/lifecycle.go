package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"claimline/casesvc"
)

// Transition applies a lifecycle action in one transaction: the case's new state, its timeline
// entries, the audit row and the customer notice are written together or not at all. The rules are
// casesvc.PlanTransition's. See casesvc.Service.
func (s *Service) Transition(ctx context.Context, caseID string, req casesvc.TransitionRequest, actor casesvc.Staff) (*casesvc.Case, error) {
	now := s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: transition: %w", err)
	}
	defer tx.Rollback()
	c, err := s.loadCase(ctx, tx, `id = ?`, caseID)
	if err != nil {
		return nil, err
	}
	plan, err := casesvc.PlanTransition(c, req, actor, casesvc.LifecycleRules{
		JointReviewAbove: s.cfg.JointReviewAbove, Now: now, Location: s.cfg.Location})
	if err != nil {
		return nil, err
	}
	c.Status = plan.To
	c.Deadlines = plan.Deadlines
	if plan.AssessedAmount != nil {
		c.AssessedAmount = plan.AssessedAmount
	}
	if plan.Decision != nil {
		c.Decision = plan.Decision
	}
	if plan.Payment != nil {
		c.Payment = plan.Payment
	}
	w := caseWriter{s: s, tx: tx, c: c, now: now, entries: plan.Timeline}
	w.audit(actor.Name, "transition", plan.AuditDetail)
	if plan.NoticeKind != "" {
		w.notice(plan.NoticeKind, plan.NoticeData)
	}
	out, err := w.save(ctx)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: transition: %w", err)
	}
	return out, nil
}

// Overdue lists open deadlines of cases and complaints past or within soon of now, earliest first.
// See casesvc.Service.
func (s *Service) Overdue(ctx context.Context, now time.Time, soon time.Duration) ([]casesvc.DeadlineItem, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM cases WHERE status IN (?, ?, ?, ?) ORDER BY id`,
		casesvc.StatusInitialReview, casesvc.StatusSecondReview, casesvc.StatusJointReview, casesvc.StatusApproved)
	if err != nil {
		return nil, fmt.Errorf("sqlite: overdue: %w", err)
	}
	ids, err := scanStrings(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: overdue: %w", err)
	}
	cases, err := s.casesByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := []casesvc.DeadlineItem{}
	for _, c := range cases {
		casesvc.ComputeDeadlines(c, now)
		out = append(out, casesvc.DeadlineItems(c, now, soon)...)
	}
	complaints, err := s.openComplaints(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range complaints {
		out = append(out, casesvc.ComplaintDeadlineItems(c, now, soon)...)
	}
	key := func(it casesvc.DeadlineItem) string {
		if it.Kind == casesvc.DeadlineKindComplaint {
			return it.Complaint
		}
		return it.CaseID
	}
	slices.SortStableFunc(out, func(a, b casesvc.DeadlineItem) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return strings.Compare(key(a), key(b))
	})
	return out, nil
}
