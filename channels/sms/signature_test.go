package sms

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/twilio/twilio-go/client"
)

// validSignature accepts exactly what twilio-go's RequestValidator accepts: signatures over the
// URL as configured, with the port added or removed, or anything else (wrong token, other fields,
// other paths), over random forms and public URLs.
func TestValidSignatureMatchesTwilioGo(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	bases := []string{
		"https://hooks.example.com", "https://hooks.example.com:443", "https://hooks.example.com:8443",
		"http://127.0.0.1:8080", "http://localhost", "https://example.com/claims/gw",
	}
	rng := rand.New(rand.NewPCG(3, 4))
	word := func() string {
		const chars = "abcXYZ019+ -_.~%/&=?台北測試"
		r := []rune(chars)
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteRune(r[rng.IntN(len(r))])
		}
		return b.String()
	}
	sign := func(key, u string, form url.Values) string {
		keys := make([]string, 0, len(form))
		for k := range form {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		s := u
		for _, k := range keys {
			s += k + form[k][0]
		}
		m := hmac.New(sha1.New, []byte(key))
		m.Write([]byte(s))
		return base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	lib := client.NewRequestValidator(token)
	accepted := 0
	for i := range 3000 {
		base := bases[rng.IntN(len(bases))]
		a := &Adapter{signBases: signedBases(base), tokenKey: []byte(token)}
		path := PathInbound
		if rng.IntN(3) == 0 {
			path = PathStatus
		}
		query := ""
		if rng.IntN(3) == 0 {
			query = url.Values{"n": {word()}, "k": {fmt.Sprint(i)}}.Encode()
		}
		form := url.Values{}
		for range rng.IntN(20) {
			form.Set(word()+"F", word())
		}
		full := base + path
		if query != "" {
			full += "?" + query
		}
		// what the signer may have signed over: the URL, its other port spelling, another path,
		// another token, or other fields
		signedURL := full
		switch rng.IntN(6) {
		case 0:
			signedURL = signedBases(base)[1] + path
			if query != "" {
				signedURL += "?" + query
			}
		case 1:
			signedURL = base + "/elsewhere"
		}
		key := token
		if rng.IntN(8) == 0 {
			key = "fedcba9876543210fedcba9876543210"
		}
		signedForm := form
		if rng.IntN(8) == 0 {
			signedForm = url.Values{"Body": {"other"}}
		}
		sig := sign(key, signedURL, signedForm)
		if rng.IntN(10) == 0 {
			sig = sig[:len(sig)-2] + "A="
		}
		flat := map[string]string{}
		for k, v := range form {
			flat[k] = v[0]
		}
		want := lib.Validate(full, flat, sig)
		if got := a.validSignature(path, query, form, sig); got != want {
			t.Fatalf("case %d: %s signed over %s: got %v, twilio-go %v", i, full, signedURL, got, want)
		}
		if want {
			accepted++
		}
	}
	if accepted < 1000 {
		t.Fatalf("only %d of 3000 cases were valid signatures", accepted)
	}
}
