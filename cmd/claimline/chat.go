package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"claimline/channels"
)

// chatChannel is the channel name of terminal conversations; they are stored like any other.
const chatChannel = "terminal"

// chat runs the same bot in the terminal, through the same router and stores as every channel
// (like `rasa shell`). Buttons are shown as numbered choices; typing a number presses one.
func chat(ctx context.Context, cfg *config, stdin io.Reader, stdout, stderr io.Writer) error {
	a, err := openApp(ctx, cfg, stderr, openMode{seedDemo: true})
	if err != nil {
		return err
	}
	defer a.Close(context.Background())

	var id [6]byte
	rand.Read(id[:])
	contact := "terminal-" + hex.EncodeToString(id[:])
	fmt.Fprintln(stdout, "claimline chat: type a message; a number presses a button; Ctrl-D ends.")

	// The first message of a REST-like synchronous exchange opens the conversation; the terminal opens
	// it without one so the greeting comes first.
	conv, _, err := a.Router.OpenConversation(ctx, chatChannel, contact, "")
	if err != nil {
		return err
	}
	greeting, err := a.Router.Start(ctx, conv.ID)
	if err != nil {
		return err
	}
	buttons := printReplies(stdout, greeting)

	in := bufio.NewScanner(stdin)
	n := 0
	for {
		fmt.Fprint(stdout, "> ")
		if !in.Scan() {
			fmt.Fprintln(stdout)
			return in.Err()
		}
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		n++
		msg := channels.Inbound{Channel: chatChannel, Contact: contact, ClientID: fmt.Sprintf("t%d", n), Text: line}
		if value, ok := channels.ChoiceFor(buttons, line); ok {
			msg.Text, msg.Action = "", value
		}
		_, replies, err := a.Router.ProcessSync(ctx, msg)
		if err != nil {
			fmt.Fprintf(stdout, "(not delivered: %v)\n", err)
			continue
		}
		buttons = printReplies(stdout, replies)
		if ctx.Err() != nil {
			return nil
		}
	}
}

// printReplies prints the bot's replies as a channel without buttons would show them, and returns
// the buttons of the last reply so a number typed next can press one.
func printReplies(w io.Writer, msgs []channels.Message) []channels.Button {
	var last []channels.Button
	for _, m := range msgs {
		if m.Direction != channels.DirOut {
			continue
		}
		for _, part := range channels.Render(m, channels.Capabilities{Buttons: false}) {
			fmt.Fprintf(w, "%s\n\n", indent(part.Text))
		}
		last = m.Buttons
	}
	return last
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
