package telegram

import "strings"

// Keys of the adapter's own answers, sent when it refuses something before the dialog sees it.
const (
	msgUnsupported     = "unsupported"      // a sticker, location, voice message, contact...
	msgTooLarge        = "file_too_large"   // over Telegram's 20 MB download limit
	msgUnsupportedFile = "unsupported_file" // a document that is not JPEG, PNG, HEIC or PDF
	msgFileFailed      = "file_failed"      // the file could not be fetched
)

// catalog holds the answers per language: content is data, kept apart from the code paths.
var catalog = map[string]map[string]string{
	"zh-TW": {
		msgUnsupported:     "抱歉，這類訊息（例如貼圖、位置、語音或聯絡人）我目前無法讀取。請用文字告訴我您需要什麼協助，理賠文件請以照片或 PDF 傳送。",
		msgTooLarge:        "抱歉，這個檔案超過 20 MB，無法透過 Telegram 收件。請傳送較小的檔案（例如一頁一張照片），或改用網頁客服上傳文件。",
		msgUnsupportedFile: "抱歉，這種檔案無法收件。請傳送 JPEG、PNG、HEIC 照片或 PDF 文件。",
		msgFileFailed:      "抱歉，檔案沒有順利收到。請再傳送一次，或改用網頁客服上傳文件。",
	},
	"en": {
		msgUnsupported:     "Sorry, I can't read this kind of message (stickers, locations, voice messages or contacts). Please tell me in words how I can help; send claim documents as photos or PDF files.",
		msgTooLarge:        "Sorry, this file is larger than 20 MB, which is more than we can receive over Telegram. Please send a smaller file (for example one photo per page), or upload it through our web chat.",
		msgUnsupportedFile: "Sorry, we can't accept this kind of file. Please send a JPEG, PNG or HEIC photo, or a PDF.",
		msgFileFailed:      "Sorry, your file did not come through. Please send it again, or upload it through our web chat.",
	},
}

// text returns the answer for key in lang, falling back to zh-TW (the default language).
func text(lang, key string) string {
	if strings.HasPrefix(strings.ToLower(lang), "en") {
		if s, ok := catalog["en"][key]; ok {
			return s
		}
	}
	return catalog["zh-TW"][key]
}
