package channels

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"claimline/casesvc"
	"claimline/dialog"
)

// Notices is what the relay needs from the case service's notice outbox; casesvc.Service satisfies it.
type Notices interface {
	// PendingNotices returns up to limit undelivered notices, oldest first.
	PendingNotices(ctx context.Context, limit int) ([]casesvc.Notice, error)
	// MarkNoticeDelivered records that a notice reached its conversation. Idempotent.
	MarkNoticeDelivered(ctx context.Context, id int64) error
}

// NoticeRelayConfig holds the relay's dependencies. Router and Notices are required.
type NoticeRelayConfig struct {
	Router   *Router
	Notices  Notices
	Interval time.Duration // poll interval; default 5s
	Batch    int           // notices per read; default 50
	Logger   *slog.Logger  // default the router's
}

// NoticeRelay moves the case service's notices into their conversations: each becomes an event
// (DirEvent, ClientID "notice:<id>", so it is stored once however often it is relayed), whose turn
// runs the dialog with dialog.EventNotice; the dialog's replies go out like any reply (the outbox on
// push channels, live or on resume on web chat and REST). Only after the event is stored is the notice
// marked delivered, so a crash in between relays it again and the dedupe drops the repeat.
//
// Lifecycle: NewNoticeRelay, then Run in a goroutine until its context ends (before Router.Close);
// Poke after committing a notice to relay it without waiting for the poll.
type NoticeRelay struct {
	router  *Router
	notices Notices
	every   time.Duration
	batch   int
	log     *slog.Logger
	poke    chan struct{}
	mu      sync.Mutex // one pass at a time per relay
}

// NewNoticeRelay returns a relay; nothing runs until Run or RelayOnce.
func NewNoticeRelay(cfg NoticeRelayConfig) (*NoticeRelay, error) {
	if cfg.Router == nil || cfg.Notices == nil {
		return nil, casesvc.Errorf(casesvc.EINVALID, "channels: notice relay needs a Router and Notices")
	}
	n := &NoticeRelay{router: cfg.Router, notices: cfg.Notices, every: cfg.Interval, batch: cfg.Batch, log: cfg.Logger,
		poke: make(chan struct{}, 1)}
	if n.every <= 0 {
		n.every = 5 * time.Second
	}
	if n.batch <= 0 {
		n.batch = 50
	}
	if n.log == nil {
		n.log = cfg.Router.log
	}
	return n, nil
}

// Poke asks for a pass now.
func (n *NoticeRelay) Poke() {
	select {
	case n.poke <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends. Failures are logged and retried at the next pass.
func (n *NoticeRelay) Run(ctx context.Context) {
	t := time.NewTicker(n.every)
	defer t.Stop()
	for {
		if _, err := n.RelayOnce(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("notice relay", "code", casesvc.ErrorCode(err), "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.poke:
		}
	}
}

// RelayOnce relays pending notices until none is left (or a failure), returning how many it stored
// or found already stored. Concurrent calls (also from several processes) store each notice once.
func (n *NoticeRelay) RelayOnce(ctx context.Context) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	total := 0
	for {
		pending, err := n.notices.PendingNotices(ctx, n.batch)
		if err != nil {
			return total, err
		}
		progressed := 0
		for _, nt := range pending {
			ok, err := n.relay(ctx, nt)
			if err != nil {
				return total, err
			}
			if ok {
				total++
			}
			progressed++
		}
		if len(pending) < n.batch || progressed == 0 {
			return total, nil
		}
	}
}

// relay stores one notice as an event and marks it delivered; false when its conversation is gone.
func (n *NoticeRelay) relay(ctx context.Context, nt casesvc.Notice) (bool, error) {
	if nt.Conversation == "" {
		n.log.Warn("notice without a conversation; marked delivered", "notice", nt.ID, "kind", nt.Kind, "case", nt.CaseID)
		return false, n.notices.MarkNoticeDelivered(ctx, nt.ID)
	}
	_, dup, err := n.router.ReceiveInto(ctx, nt.Conversation, Inbound{
		ClientID: nt.IdempotencyID(), Event: dialog.EventNotice, Notice: DialogNotice(nt), ReceivedAt: n.router.now(),
	})
	switch {
	case casesvc.ErrorCode(err) == casesvc.ENOTFOUND:
		n.log.Warn("notice for a conversation that no longer exists; marked delivered", "notice", nt.ID, "kind", nt.Kind, "case", nt.CaseID)
		return false, n.notices.MarkNoticeDelivered(ctx, nt.ID)
	case err != nil:
		return false, err
	}
	if !dup {
		n.router.metrics.noticeRelayed()
	}
	if err := n.notices.MarkNoticeDelivered(ctx, nt.ID); err != nil {
		return false, err
	}
	return true, nil
}

// DialogNotice is the one conversion of a case-service notice into what the dialog is told.
func DialogNotice(n casesvc.Notice) *dialog.Notice {
	data := make(map[string]any, len(n.Data))
	for k, v := range n.Data {
		data[k] = v
	}
	return &dialog.Notice{ID: n.ID, CaseID: n.CaseID, Kind: n.Kind, Data: data}
}
