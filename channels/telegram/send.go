package telegram

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"claimline/channels"
)

// Send pushes one rendered part (channels.Render with Capabilities: at most 4096 characters, buttons on
// the last part) to the conversation's chat with sendMessage and returns Telegram's message_id. One
// call, one attempt: the outbox retries, classified by *channels.DeliveryError:
//   - 429 Too Many Requests: Retry after retry_after (this chat only waits; the outbox keeps sending
//     to others);
//   - 400 and 403 (chat not found, bot blocked, user deactivated, bad request): Permanent;
//   - 401/404 (the token is wrong or revoked: the operator's problem, not this message's), 5xx,
//     network, timeouts: Retry with the outbox's backoff.
//
// The text goes as plain text, without parse_mode: nothing in it is markup, so nothing needs escaping
// and a customer's name with "_" or "<" can never break a message.
func (a *Adapter) Send(ctx context.Context, conv *channels.Conversation, msg channels.Message) (string, error) {
	chatID, err := strconv.ParseInt(conv.Contact, 10, 64)
	if err != nil || chatID == 0 {
		return "", &channels.DeliveryError{Permanent: true, Code: "bad_chat_id", Err: errors.New("telegram: the contact is not a chat id")}
	}
	text, buttons := msg.Text, msg.Buttons
	if len(buttons) > 0 && !fitsCallbackData(buttons) {
		// Telegram's callback_data is at most 64 bytes. The dialog's values are short; a longer one is a
		// bug there, so it is logged and the choices go as numbered text rather than not at all.
		a.log.Error("telegram: a button value is longer than 64 bytes; sent as numbered text",
			"conversation", conv.ID, "seq", msg.Seq)
		parts := channels.Render(channels.Message{Text: text, Buttons: buttons}, channels.Capabilities{})
		text, buttons = parts[0].Text, nil
	}
	if strings.TrimSpace(text) == "" {
		if len(buttons) == 0 {
			return "", nil // nothing to show
		}
		text = "…" // Telegram refuses an empty text; the buttons need a message to ride on
	}
	id, err := a.sendText(ctx, chatID, text, buttons)
	if err != nil {
		return "", deliveryError(err)
	}
	return strconv.Itoa(id), nil
}

// sendText calls sendMessage: plain text, link previews off, buttons as an inline keyboard.
func (a *Adapter) sendText(ctx context.Context, chatID int64, text string, buttons []channels.Button) (int, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.callTimeout)
		defer cancel()
	}
	m := tgbotapi.NewMessage(chatID, text)
	m.DisableWebPagePreview = true
	if len(buttons) > 0 {
		m.ReplyMarkup = keyboard(buttons)
	}
	sent, err := a.api(ctx).Send(m)
	if err != nil {
		return 0, err
	}
	return sent.MessageID, nil
}

// keyboard lays the buttons out one per row, or two per row when every label is short (at most 8
// wide characters or 16 narrow ones), which keeps yes/no and short menus compact on a phone.
func keyboard(buttons []channels.Button) tgbotapi.InlineKeyboardMarkup {
	perRow := 1
	if len(buttons) > 1 {
		perRow = 2
		for _, b := range buttons {
			if labelWidth(b.Label) > 16 {
				perRow = 1
				break
			}
		}
	}
	var rows [][]tgbotapi.InlineKeyboardButton
	for i := 0; i < len(buttons); i += perRow {
		var row []tgbotapi.InlineKeyboardButton
		for _, b := range buttons[i:min(i+perRow, len(buttons))] {
			label := b.Label
			if strings.TrimSpace(label) == "" {
				label = b.Value
			}
			row = append(row, tgbotapi.NewInlineKeyboardButtonData(label, b.Value))
		}
		rows = append(rows, row)
	}
	return tgbotapi.NewInlineKeyboardMarkup(rows...)
}

// labelWidth counts CJK and other wide characters as 2 columns.
func labelWidth(s string) int {
	w := 0
	for _, r := range s {
		if r >= 0x1100 {
			w += 2
		} else {
			w++
		}
	}
	return w
}

func fitsCallbackData(buttons []channels.Button) bool {
	for _, b := range buttons {
		if len(b.Value) == 0 || len(b.Value) > maxCallbackData {
			return false
		}
	}
	return true
}

// deliveryError classifies a sendMessage failure for the outbox. Code holds only the Bot API's
// error code or a kind; the description (which may quote the chat) stays in Err, never logged.
func deliveryError(err error) error {
	var te *tgbotapi.Error
	if errors.As(err, &te) {
		code := strconv.Itoa(te.Code)
		switch {
		case te.Code == 429:
			after := time.Duration(te.RetryAfter) * time.Second
			if after <= 0 {
				after = time.Second
			}
			return &channels.DeliveryError{Retry: true, After: after, Code: code, Err: err}
		case te.Code == 401 || te.Code == 404 || te.Code == 0 || te.Code >= 500:
			return &channels.DeliveryError{Retry: true, Code: code, Err: err}
		case te.Code == 403:
			return &channels.DeliveryError{Permanent: true, Code: "blocked", Err: err}
		default: // 400 chat not found, message too long, ...; 409 and other 4xx
			return &channels.DeliveryError{Permanent: true, Code: code, Err: err}
		}
	}
	return &channels.DeliveryError{Retry: true, Code: errCode(err), Err: err}
}
