package sms

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Twilio's webhook signature (X-Twilio-Signature): base64(HMAC-SHA1(auth token, the URL Twilio
// posted to, then every POST field's name and value, sorted by name)). twilio-go's RequestValidator
// accepted the signature over the URL as configured or over it with the port added or removed
// (Twilio's back end is not consistent about the port); validSignature accepts exactly the same,
// without that validator's per-request string building and URL parsing (it was most of the
// webhook's own CPU): the two spellings of PublicURL are worked out once, in New, and the signed
// bytes are built in one pooled buffer. Only the fields' first values are signed; verified refuses
// a field sent twice before it gets here.

// signedBases returns PublicURL as configured and with its port toggled, as twilio-go's
// RequestValidator spells them (its addPort/removePort).
func signedBases(publicURL string) [2]string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return [2]string{publicURL, publicURL}
	}
	host := strings.Split(u.Host, ":")[0]
	if u.Port() != "" {
		u.Host = host
	} else if u.Scheme == "https" {
		u.Host = host + ":443"
	} else {
		u.Host = host + ":" + strconv.Itoa(80)
	}
	return [2]string{publicURL, u.String()}
}

var signBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// validSignature checks sig over PublicURL + path (+ "?" + rawQuery) and form's fields.
func (a *Adapter) validSignature(path, rawQuery string, form url.Values, sig string) bool {
	keys := make([]string, 0, 32)
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	bp := signBufs.Get().(*[]byte)
	defer signBufs.Put(bp)
	for _, base := range a.signBases {
		b := append((*bp)[:0], base...)
		b = append(b, path...)
		if rawQuery != "" {
			b = append(b, '?')
			b = append(b, rawQuery...)
		}
		for _, k := range keys {
			b = append(b, k...)
			if v := form[k]; len(v) > 0 {
				b = append(b, v[0]...)
			}
		}
		*bp = b
		mac := hmac.New(sha1.New, a.tokenKey)
		mac.Write(b)
		var sum [sha1.Size]byte
		var enc [28]byte // base64 of 20 bytes
		base64.StdEncoding.Encode(enc[:], mac.Sum(sum[:0]))
		if subtle.ConstantTimeCompare(enc[:], []byte(sig)) == 1 {
			return true
		}
	}
	return false
}
