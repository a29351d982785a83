package bench

import (
	"net/url"
	"testing"
)

// The load client's signer builds the same body and signature as encoding the form and signing it
// the plain way.
func TestTwilioSignerMatchesPlainSigning(t *testing.T) {
	const signedURL = "http://127.0.0.1:8080/sms/twilio"
	s := newTwilioSigner(signedURL)
	for i, text := range webhookTexts {
		sid, from := "SM00000000000000000000000000000"+string(rune('a'+i)), "+8869100000"+string(rune('0'+i%10))
		form := url.Values{}
		for _, f := range twilioFields {
			form.Set(f.name, f.value)
		}
		form.Set("MessageSid", sid)
		form.Set("SmsMessageSid", sid)
		form.Set("SmsSid", sid)
		form.Set("From", from)
		form.Set("Body", text+" & = + ?")
		body, sig := s.form(sid, from, text+" & = + ?")
		if string(body) != form.Encode() {
			t.Fatalf("body\n%s\nwant\n%s", body, form.Encode())
		}
		if want := twilioSignature(benchTwilioToken, signedURL, form); sig != want {
			t.Fatalf("signature %s, want %s", sig, want)
		}
	}
}
