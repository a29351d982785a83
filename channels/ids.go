package channels

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"
)

// idEncoding is base32 without padding over rand.Text's characters, lowered, in ASCII order, so ids
// sort as strings the way their bits do.
var idEncoding = base32.NewEncoding("234567abcdefghijklmnopqrstuvwxyz").WithPadding(base32.NoPadding)

// NewConversationID returns a new conversation id: 26 characters, 10 for the creation time in
// milliseconds (50 bits) and 16 for 80 random bits. The random part keeps ids unguessable; the time part makes ids of
// conversations created around the same time sort together, so the active conversations' rows and
// index entries share a few database pages and a commit writes fewer of them.
func NewConversationID() string { return newConversationID(time.Now()) }

func newConversationID(at time.Time) string {
	var ms [8]byte // the time in the top 50 bits: exactly the first 10 base32 characters
	binary.BigEndian.PutUint64(ms[:], uint64(at.UnixMilli())<<14)
	var random [10]byte
	rand.Read(random[:]) // never fails (crypto/rand)
	return idEncoding.EncodeToString(ms[:])[:10] + idEncoding.EncodeToString(random[:])
}
