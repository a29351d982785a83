package handoff

import (
	"fmt"
	"strings"
	"time"
)

// The customer-facing texts of the handoff: content is data, per language.
var texts = map[string]map[string]string{
	"zh-TW": {
		"queued":          "已為您排入真人客服，您目前是第 {n} 位。專員接手後會看到您所有的訊息。",
		"position":        "排隊中，您是第 {n} 位。",
		"queued_ack":      "已收到，專員接手後會看到您的訊息（目前第 {n} 位）。",
		"wait":            "好的，請繼續稍候，您目前是第 {n} 位。",
		"requeued":        "已為您轉回排隊，您目前是第 {n} 位。",
		"assigned":        "專員 {agent} 已加入對話。",
		"transferred":     "已為您轉接給專員 {agent}。",
		"ended":           "專員 {agent} 已結束對話。",
		"after_hours":     "目前非真人客服服務時間（{hours}）。您可以繼續等候，或留言請專員於服務時間回電。",
		"long_wait":       "目前等候時間較長。您可以繼續等候，或留言請專員回電。",
		"callback_prompt": "請留下您想詢問的事情、方便聯絡的時間與電話，專員會在服務時間回電給您。",
		"callback_done":   "已收到您的留言，專員將於服務時間與您聯絡。接下來由線上小幫手繼續為您服務。",
		"cancelled":       "已取消轉接真人客服，您可以繼續與線上小幫手對話。",
		"btn.callback":    "留言請專員回電",
		"btn.wait":        "繼續等候",
		"btn.cancel":      "取消轉接",
		"days.weekdays":   "週一至週五",
		"days.every":      "每天",
	},
	"en": {
		"queued":          "You're in the queue for a person: number {n}. The agent will see everything you write.",
		"position":        "You're now number {n} in the queue.",
		"queued_ack":      "Got it. The agent will see your message (you're number {n} in the queue).",
		"wait":            "OK, please hold on: you're number {n} in the queue.",
		"requeued":        "You're back in the queue for a person: number {n}.",
		"assigned":        "{agent} has joined the conversation.",
		"transferred":     "You've been transferred to {agent}.",
		"ended":           "{agent} has left the conversation.",
		"after_hours":     "Our agents are available {hours}. You can keep waiting, or leave a message and we'll call you back.",
		"long_wait":       "The wait is longer than usual. You can keep waiting, or leave a message and we'll call you back.",
		"callback_prompt": "Please tell us what it's about, and a phone number and time that suit you; an agent will call you back during opening hours.",
		"callback_done":   "Thank you, we have your message and will call you back during opening hours. The assistant is here for anything else.",
		"cancelled":       "OK, the request for a person is cancelled. The assistant is here to help.",
		"btn.callback":    "Leave a call-back request",
		"btn.wait":        "Keep waiting",
		"btn.cancel":      "Cancel",
		"days.weekdays":   "Mon–Fri",
		"days.every":      "daily",
	},
}

func langOf(lang string) string {
	if strings.HasPrefix(strings.ToLower(lang), "en") {
		return "en"
	}
	return "zh-TW"
}

// say returns the text for key in lang with {name} placeholders filled from kv pairs.
func say(lang, key string, kv ...any) string {
	s, ok := texts[langOf(lang)][key]
	if !ok {
		s = texts["zh-TW"][key]
	}
	for i := 0; i+1 < len(kv); i += 2 {
		s = strings.ReplaceAll(s, "{"+fmt.Sprint(kv[i])+"}", fmt.Sprint(kv[i+1]))
	}
	return s
}

// Hours are the staffed hours: agents answer on Days between Open and Close (local time).
type Hours struct {
	Location *time.Location
	Days     []time.Weekday
	Open     time.Duration // since local midnight
	Close    time.Duration
	Always   bool // staffed around the clock
}

// DefaultHours is Monday to Friday, 09:00–18:00 in loc (Asia/Taipei when nil).
func DefaultHours(loc *time.Location) Hours {
	if loc == nil {
		loc = taipei()
	}
	return Hours{Location: loc, Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
		Open: 9 * time.Hour, Close: 18 * time.Hour}
}

// ParseHours reads "always" or "Mon-Fri 09:00-18:00" (days: Mon..Sun, a range or a comma list).
func ParseHours(spec string, loc *time.Location) (Hours, error) {
	if loc == nil {
		loc = taipei()
	}
	spec = strings.TrimSpace(spec)
	if strings.EqualFold(spec, "always") || spec == "24/7" {
		return Hours{Location: loc, Always: true}, nil
	}
	parts := strings.Fields(spec)
	if len(parts) != 2 {
		return Hours{}, fmt.Errorf("handoff: hours %q: want \"Mon-Fri 09:00-18:00\" or \"always\"", spec)
	}
	names := map[string]time.Weekday{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
	h := Hours{Location: loc}
	for _, item := range strings.Split(parts[0], ",") {
		a, b, isRange := strings.Cut(strings.ToLower(item), "-")
		from, ok1 := names[a]
		to, ok2 := names[b]
		if !isRange {
			to, ok2 = from, ok1
		}
		if !ok1 || !ok2 {
			return Hours{}, fmt.Errorf("handoff: hours %q: unknown day", spec)
		}
		for d := from; ; d = (d + 1) % 7 {
			h.Days = append(h.Days, d)
			if d == to {
				break
			}
		}
	}
	o, c, ok := strings.Cut(parts[1], "-")
	var err1, err2 error
	h.Open, err1 = clock(o)
	h.Close, err2 = clock(c)
	if !ok || err1 != nil || err2 != nil || h.Close <= h.Open {
		return Hours{}, fmt.Errorf("handoff: hours %q: want HH:MM-HH:MM", spec)
	}
	return h, nil
}

func clock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// IsOpen reports whether t falls within the staffed hours.
func (h Hours) IsOpen(t time.Time) bool {
	if h.Always {
		return true
	}
	loc := h.Location
	if loc == nil {
		loc = taipei()
	}
	lt := t.In(loc)
	day := false
	for _, d := range h.Days {
		day = day || d == lt.Weekday()
	}
	since := time.Duration(lt.Hour())*time.Hour + time.Duration(lt.Minute())*time.Minute
	return day && since >= h.Open && since < h.Close
}

// Describe says the hours for a customer ("週一至週五 09:00–18:00").
func (h Hours) Describe(lang string) string {
	if h.Always {
		return "24/7"
	}
	days := ""
	switch len(h.Days) {
	case 5:
		days = say(lang, "days.weekdays")
	case 7:
		days = say(lang, "days.every")
	default:
		var names []string
		for _, d := range h.Days {
			names = append(names, d.String()[:3])
		}
		days = strings.Join(names, ", ")
	}
	hm := func(d time.Duration) string { return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60) }
	return days + " " + hm(h.Open) + "–" + hm(h.Close)
}

func taipei() *time.Location {
	loc, err := time.LoadLocation("Asia/Taipei")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}
