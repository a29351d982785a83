package telegram

import (
	"context"
	"strconv"
	"strings"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"claimline/casesvc"
	"claimline/channels"
)

// process handles one update, from the webhook or from getUpdates. It returns nil once the update is
// stored (or needs no storing: a refused kind answered directly, an ignored chat, a repeat) and an
// error only when trying again can help (the store failed, the Bot API is unreachable): the webhook
// then answers 503 so Telegram sends the update again, and the poller does not advance its offset.
func (a *Adapter) process(ctx context.Context, u tgbotapi.Update) error {
	switch {
	case u.Message != nil:
		return a.onMessage(ctx, u.UpdateID, u.Message, false)
	case u.EditedMessage != nil:
		return a.onMessage(ctx, u.UpdateID, u.EditedMessage, true)
	case u.CallbackQuery != nil:
		return a.onCallback(ctx, u.UpdateID, u.CallbackQuery)
	}
	// Not asked for (allowed_updates), e.g. a webhook set by another tool: acknowledged, not stored.
	a.log.Debug("telegram update of another kind ignored", "update_id", u.UpdateID)
	return nil
}

// privateChat reports whether m belongs to a one-to-one chat with the bot. Claims carry personal
// data, so groups and channels are not served; their updates are acknowledged and dropped.
func (a *Adapter) privateChat(updateID int, m *tgbotapi.Message) bool {
	if m == nil || m.Chat == nil || m.Chat.ID == 0 {
		return false
	}
	if m.Chat.Type != "private" {
		a.log.Info("telegram update from a non-private chat ignored", "update_id", updateID, "chat_type", m.Chat.Type)
		return false
	}
	return true
}

// onMessage handles a new or edited message.
//
// An edited message is treated as a new message (ClientID "tg:<its update_id>"): the dialog has no
// notion of changing what was said, and the customer who corrects a typo expects the correction to be
// read. Only its text (or caption) is taken: an edit never changes a file, so a photo is not stored
// twice.
func (a *Adapter) onMessage(ctx context.Context, updateID int, m *tgbotapi.Message, edited bool) error {
	if !a.privateChat(updateID, m) {
		return nil
	}
	chatID := m.Chat.ID
	in := channels.Inbound{
		Channel: channels.ChannelTelegram, Contact: strconv.FormatInt(chatID, 10),
		ClientID: clientID(updateID), Lang: langHint(m.From), ReceivedAt: time.Now(),
	}
	switch {
	case m.Text != "":
		if cmd, args, ok := command(m); ok {
			if cmd == "start" && !edited {
				return a.start(ctx, updateID, in)
			}
			in.Text = strings.TrimSpace(cmd + " " + args)
		} else {
			in.Text = m.Text
		}
	case edited:
		if m.Caption == "" {
			return nil // an edit of something without text: nothing new to read
		}
		in.Text = m.Caption
	case len(m.Photo) > 0 || m.Document != nil:
		att, refusal, err := a.receiveFile(ctx, m)
		if err != nil {
			return err
		}
		if refusal != "" {
			a.answer(ctx, updateID, chatID, in.Lang, refusal)
			return nil
		}
		in.Text = m.Caption
		in.Attachments = append(in.Attachments, att)
	default:
		// Stickers, locations, voice, contacts, video, polls...: answered directly and not stored. Storing
		// them would run a dialog turn on a placeholder text, which a half-filled form could take as an
		// answer (a name, a place); the router has no "store without a turn" yet (see the report).
		a.answer(ctx, updateID, chatID, in.Lang, msgUnsupported)
		return nil
	}
	return a.store(ctx, updateID, in)
}

// start answers /start. A new chat gets the opening turn (the greeting and the menu) without storing
// the command as a customer message; it runs once per conversation, so a repeated update greets once.
// In a running conversation /start goes back to the menu, like the menu button.
func (a *Adapter) start(ctx context.Context, updateID int, in channels.Inbound) error {
	conv, _, err := a.router.OpenConversation(ctx, in.Channel, in.Contact, in.Lang)
	if err != nil {
		return err
	}
	if !conv.Started {
		_, err := a.router.Start(ctx, conv.ID)
		return err
	}
	in.Text, in.Action = "/start", "menu"
	return a.store(ctx, updateID, in)
}

// onCallback handles a pressed inline button: an Inbound whose Action is the button's value (its
// callback data) and whose Text is the label the customer saw. The query is always answered, after
// the store, so the customer's button stops spinning.
func (a *Adapter) onCallback(ctx context.Context, updateID int, q *tgbotapi.CallbackQuery) error {
	defer a.answerCallback(ctx, q.ID)
	if !a.privateChat(updateID, q.Message) || q.Data == "" {
		// A button under an inline-mode message or a game: not ours.
		return nil
	}
	in := channels.Inbound{
		Channel: channels.ChannelTelegram, Contact: strconv.FormatInt(q.Message.Chat.ID, 10),
		ClientID: clientID(updateID), Lang: langHint(q.From), ReceivedAt: time.Now(),
		Action: q.Data, Text: labelFor(q.Message.ReplyMarkup, q.Data),
	}
	return a.store(ctx, updateID, in)
}

func (a *Adapter) answerCallback(ctx context.Context, id string) {
	if id == "" {
		return
	}
	// Its own deadline: the spinner must stop even when the request that carried the update ended.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := a.api(ctx).Request(tgbotapi.NewCallback(id, "")); err != nil {
		// A repeated update's query is too old to answer: expected, so not an error.
		a.log.Debug("telegram answerCallbackQuery failed", "code", errCode(err))
	}
}

// store hands the Inbound to the router; it returns once the message is stored. A repeat of an
// update already stored (same ClientID in the same chat) is reported as success.
func (a *Adapter) store(ctx context.Context, updateID int, in channels.Inbound) error {
	if a.beforeStore != nil {
		a.beforeStore(updateID)
	}
	// Stored, together with its turn when the chat has nothing waiting (one write).
	s, err := a.router.ReceiveSoon(ctx, in)
	if err != nil {
		return err
	}
	if s.Dup {
		a.log.Info("telegram update repeated; stored once", "update_id", updateID)
	}
	return nil
}

// answer sends a polite text directly, not through the outbox: nothing was stored, so there is no
// stored reply to deliver. It is best effort (one attempt, logged when it fails) and at most once per
// update_id as long as the update is remembered.
func (a *Adapter) answer(ctx context.Context, updateID int, chatID int64, lang, key string) {
	if !a.answered.add(updateID) {
		return
	}
	if lang == "" {
		// No hint from Telegram: the conversation's language, when there is one.
		if conv, err := a.router.FindConversation(ctx, channels.ChannelTelegram, strconv.FormatInt(chatID, 10)); err == nil {
			lang = conv.Lang
		} else if casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
			a.log.Warn("telegram conversation lookup", "code", casesvc.ErrorCode(err))
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if _, err := a.sendText(ctx, chatID, text(lang, key), nil); err != nil {
		a.log.Warn("telegram direct answer not sent", "update_id", updateID, "answer", key, "code", errCode(err))
	}
}

// langHint maps Telegram's language_code (an IETF tag of the customer's app) to the dialog's
// languages; "" lets the dialog decide.
func langHint(u *tgbotapi.User) string {
	if u == nil {
		return ""
	}
	lc := strings.ToLower(u.LanguageCode)
	switch {
	case strings.HasPrefix(lc, "zh"):
		return "zh-TW"
	case strings.HasPrefix(lc, "en"):
		return "en"
	}
	return ""
}

// command returns a bot command at the start of the text ("/help@claimline_bot now" → "help", "now").
func command(m *tgbotapi.Message) (cmd, args string, ok bool) {
	if len(m.Entities) == 0 || m.Entities[0].Type != "bot_command" || m.Entities[0].Offset != 0 || !strings.HasPrefix(m.Text, "/") {
		return "", "", false
	}
	word, args, _ := strings.Cut(m.Text, " ")
	word, _, _ = strings.Cut(strings.TrimPrefix(word, "/"), "@")
	return strings.ToLower(word), strings.TrimSpace(args), word != ""
}

// labelFor finds the label of the button with callback data value in the message's keyboard.
func labelFor(kb *tgbotapi.InlineKeyboardMarkup, value string) string {
	if kb == nil {
		return ""
	}
	for _, row := range kb.InlineKeyboard {
		for _, b := range row {
			if b.CallbackData != nil && *b.CallbackData == value {
				return b.Text
			}
		}
	}
	return ""
}
