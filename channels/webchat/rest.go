package webchat

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"claimline/casesvc"
	"claimline/channels"
)

const (
	restTimeout = 30 * time.Second
	maxSender   = 200
)

// handleREST serves POST (send and wait for the replies) and GET (later messages) of http-api.md 1.3.
func (s *Server) handleREST(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		s.restPost(w, r)
	case http.MethodGet, http.MethodHead:
		s.restGet(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Use GET or POST.")
	}
}

type restReply struct {
	Seq     int64             `json:"seq"`
	From    string            `json:"from"`
	Text    string            `json:"text"`
	Buttons []channels.Button `json:"buttons,omitempty"`
	Agent   string            `json:"agent,omitempty"`
	TS      string            `json:"ts"`
}

func (s *Server) restPost(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Send application/json.")
			return
		}
	}
	var req struct {
		Sender string `json:"sender"`
		Text   string `json:"text"`
		Action string `json:"action"`
		Lang   string `json:"lang"`
		// ID is optional: an app that retries a request sends the same id and is answered once.
		ID string `json:"id"`
	}
	body := http.MaxBytesReader(w, r.Body, maxFrame)
	if err := json.NewDecoder(body).Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			writeError(w, http.StatusRequestEntityTooLarge, "message_too_large", "The body may be at most 16 KiB.")
		case errors.As(err, &typeErr):
			writeError(w, http.StatusBadRequest, "invalid_request", "Field "+typeErr.Field+" has the wrong type.")
		default:
			writeError(w, http.StatusBadRequest, "bad_json", "The body is not valid JSON.")
		}
		return
	}
	switch {
	case strings.TrimSpace(req.Sender) == "" || len(req.Sender) > maxSender:
		writeError(w, http.StatusBadRequest, "invalid_request", "sender is required (at most 200 characters).")
		return
	case strings.TrimSpace(req.Text) == "" && req.Action == "":
		writeError(w, http.StatusBadRequest, "invalid_request", "text or action is required.")
		return
	case len(req.ID) > maxID:
		writeError(w, http.StatusBadRequest, "invalid_request", "id is at most 128 characters.")
		return
	case reservedID(req.ID):
		writeError(w, http.StatusBadRequest, "invalid_request", "This id is reserved; choose another.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), restTimeout)
	defer cancel()
	conv, replies, err := s.router.ProcessSync(ctx, channels.Inbound{
		Channel: channels.ChannelREST, Contact: req.Sender, ClientID: req.ID,
		Text: req.Text, Action: req.Action, Lang: normLang(req.Lang), ReceivedAt: time.Now(),
	})
	if err != nil {
		s.internalError(w, err, "rest post")
		return
	}
	out := struct {
		Conversation string      `json:"conversation"`
		Replies      []restReply `json:"replies"`
	}{Conversation: conv.ID, Replies: make([]restReply, 0, len(replies))}
	for _, m := range replies {
		wm := s.wire(m)
		out.Replies = append(out.Replies, restReply{Seq: wm.Seq, From: wm.From, Text: wm.Text, Buttons: wm.Buttons, Agent: wm.Agent, TS: wm.TS})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) restGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sender := q.Get("sender")
	if sender == "" || len(sender) > maxSender {
		writeError(w, http.StatusBadRequest, "invalid_request", "sender is required.")
		return
	}
	after, err := intParam(q.Get("after_seq"), 0)
	if err != nil || after < 0 {
		writeError(w, http.StatusBadRequest, "invalid_request", "after_seq must be a whole number, 0 or more.")
		return
	}
	limit, err := intParam(q.Get("limit"), 100)
	if err != nil || limit < 1 || limit > 500 {
		writeError(w, http.StatusBadRequest, "invalid_request", "limit must be between 1 and 500.")
		return
	}
	conv, err := s.router.FindConversation(r.Context(), channels.ChannelREST, sender)
	if casesvc.ErrorCode(err) == casesvc.ENOTFOUND {
		writeError(w, http.StatusNotFound, "not_found", "No conversation for this sender.")
		return
	} else if err != nil {
		s.internalError(w, err, "rest get")
		return
	}
	msgs, err := s.router.MessagesAfter(r.Context(), conv.ID, after, int(limit))
	if err != nil {
		s.internalError(w, err, "rest get")
		return
	}
	out := struct {
		Conversation string        `json:"conversation"`
		Messages     []wireMessage `json:"messages"`
	}{Conversation: conv.ID, Messages: make([]wireMessage, 0, len(msgs))}
	for _, m := range msgs {
		if shown(m) {
			out.Messages = append(out.Messages, s.wire(m))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func intParam(v string, def int64) (int64, error) {
	if v == "" {
		return def, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

// internalError maps an application error to its status; only unexpected ones are logged.
func (s *Server) internalError(w http.ResponseWriter, err error, op string) {
	switch code := casesvc.ErrorCode(err); {
	case code == casesvc.EINVALID:
		writeError(w, http.StatusBadRequest, "invalid_request", casesvc.ErrorMessage(err))
	case code == casesvc.EUNAVAILABLE || errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "unavailable", "Please try again.")
	case errors.Is(err, context.Canceled):
		// The client went away; its message is stored and will be answered.
	default:
		s.log.Error("webchat "+op, "code", code, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "Internal error.")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, map[string]body{"error": {Code: code, Message: message}})
}
