package channels

import "strings"

// The router's own texts: content is data, so they live here per language, not in the code paths.
var catalog = map[string]map[string]string{
	"zh-TW": {
		"apology": "抱歉，系統暫時無法處理您的訊息。請稍後再試一次，或輸入「真人客服」由專人協助您。",
	},
	"en": {
		"apology": "Sorry, we could not handle your message just now. Please try again in a moment, or type \"agent\" to talk to a person.",
	},
}

// text returns the catalog text for key in lang, falling back to zh-TW (the default language).
func text(lang, key string) string {
	if strings.HasPrefix(strings.ToLower(lang), "en") {
		if s, ok := catalog["en"][key]; ok {
			return s
		}
	}
	return catalog["zh-TW"][key]
}
