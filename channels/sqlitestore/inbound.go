package sqlitestore

import (
	"context"
	"database/sql"
	"errors"

	"claimline/casesvc"
	"claimline/channels"
)

// CommitInbound stores a customer message and its turn in one write op (channels.InboundTurnStore).
//
// The op's first statement is the only one that can refuse: it inserts the message as seq lastSeq+1,
// already handled, only while the conversation's last_seq is lastSeq and the client id is new; when it
// inserts nothing, nothing was written and the op answers dup, ErrSeqMoved or ENOTFOUND. Then one
// UPDATE of the conversation (last seq, state) and one INSERT per reply (and delivery).
func (s *Store) CommitInbound(ctx context.Context, conversation string, in channels.Inbound, lastSeq int64, t channels.Turn) (channels.Message, []channels.Message, bool, error) {
	at := in.ReceivedAt
	if at.IsZero() {
		at = s.Now()
	}
	msg := channels.Message{
		Conversation: conversation, Seq: lastSeq + 1, Direction: channels.DirIn, From: channels.FromCustomer,
		Text: in.Text, Action: in.Action, Lang: in.Lang, ClientID: in.ClientID, TS: at, Handled: true,
		Attachments: in.Attachments, Event: in.Event, Notice: in.Notice,
	}
	if in.Event != "" {
		msg.Direction, msg.From = channels.DirEvent, channels.FromSystem
	}
	attachments, err := jsonOrEmpty(len(msg.Attachments) > 0, msg.Attachments)
	if err != nil {
		return channels.Message{}, nil, false, internal("commit inbound", err)
	}
	notice, err := jsonOrEmpty(msg.Notice != nil, msg.Notice)
	if err != nil {
		return channels.Message{}, nil, false, internal("commit inbound", err)
	}
	t.InboundSeq = msg.Seq
	replies, buttons, state, replyAt, err := s.prepareTurn(t)
	if err != nil {
		return channels.Message{}, nil, false, err
	}
	for i := range replies {
		replies[i].Seq = msg.Seq + 1 + int64(i)
	}
	ts, replyTS := stampOf(at), stampOf(replyAt)
	var first channels.Message
	var dup bool
	err = s.write(ctx, "commit inbound", func(w *wconn) error {
		dup = false
		res, err := w.exec("commitInbound", msg.Direction, msg.From, msg.Text, msg.Action, msg.Lang, msg.ClientID,
			ts, attachments, msg.Event, notice, conversation, lastSeq)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.inboundRefused(w, conversation, msg.ClientID, &first, &dup)
		}
		last := lastSeq + 1 + int64(len(replies))
		now := parseStamp(s.stamp(s.Now()))
		if _, err := w.exec("advanceState", last, state, stampOf(now), conversation); err != nil {
			return err
		}
		w.touch(convWrite{id: conversation, lastSeq: last, setState: true, state: state, updated: now})
		return insertReplies(w, replies, buttons, replyTS, t.Deliver, in.Channel)
	})
	switch {
	case err != nil:
		return channels.Message{}, nil, false, err
	case dup:
		return first, nil, true, nil
	}
	if len(replies) == 0 {
		replies = nil
	}
	return msg, replies, false, nil
}

// inboundRefused explains why commitInbound inserted nothing: a repeated client id (dup, with the
// first message), an unknown conversation, or a last seq that moved.
func (s *Store) inboundRefused(w *wconn, conversation, clientID string, first *channels.Message, dup *bool) error {
	if clientID != "" {
		m, err := scanMessage(w.queryRow("messageByClient", conversation, clientID))
		if err == nil {
			*first, *dup = m, true
			return nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	var one int
	if err := w.queryRow("conversationExists", conversation).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return casesvc.Errorf(casesvc.ENOTFOUND, "Conversation not found.")
	} else if err != nil {
		return err
	}
	return channels.ErrSeqMoved
}

// Interface guards
var _ channels.InboundTurnStore = (*Store)(nil)
