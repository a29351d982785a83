package redisstore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"claimline/casesvc"
	"claimline/channels"
)

// LockerConfig tunes the Locker; zero values take the defaults.
type LockerConfig struct {
	// Prefix must be the Store's (Config.Prefix): the Store's fenced commit reads the lock. Default
	// "claimline:".
	Prefix string
	// TTL is how long a lock lives without renewal, so a dead node's lock frees itself; default 10s.
	TTL time.Duration
	// Renew is how often a held lock is renewed; default TTL/3. Tests set it above TTL to play a node
	// that stalls (a long GC pause, a frozen VM) and loses its lock mid-turn.
	Renew time.Duration
	// Poll is the longest wait between two tries of a taken lock (the waits start short and grow);
	// default 50ms.
	Poll time.Duration
}

// Locker is a channels.Locker on Redis: per conversation one lock key, taken with SET NX PX semantics
// by a script that also grants the next fencing token (INCR of the conversation's fence counter) and
// stores it in the lock's value ("<random>:<token>"). Renewal and release check the value, so a node
// never extends or deletes a lock it no longer holds; Store.CommitTurnFenced checks that the lock still
// holds the turn's token, so a turn whose lock expired cannot write even when no other node took the
// lock since.
type Locker struct {
	rdb redis.UniversalClient
	cfg LockerConfig
	k   keys
}

// NewLocker returns a Locker on rdb.
func NewLocker(rdb redis.UniversalClient, cfg LockerConfig) (*Locker, error) {
	if rdb == nil {
		return nil, casesvc.Errorf(casesvc.EINVALID, "redisstore: client required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "claimline:"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Second
	}
	if cfg.TTL < 10*time.Millisecond {
		cfg.TTL = 10 * time.Millisecond
	}
	if cfg.Renew <= 0 {
		cfg.Renew = cfg.TTL / 3
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 50 * time.Millisecond
	}
	return &Locker{rdb: rdb, cfg: cfg, k: keys(cfg.Prefix)}, nil
}

// acquire is the Lua that takes the lock (KEYS[1]) with the next token t of its fence (KEYS[2]),
// ARGV random ttlMillis, or returns taken when the lock is held.
func acquire(taken string) string {
	return `
if redis.call('EXISTS', KEYS[1]) == 1 then return ` + taken + ` end
local t = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. t, 'PX', ARGV[2])
`
}

// acquireScript: KEYS lock fence; ARGV random ttlMillis. Returns the new token, or 0 when taken.
var acquireScript = redis.NewScript(acquire("0") + `return t`)

// renewScript: KEYS lock; ARGV value ttlMillis. Returns 1 when still held (and extended), else 0.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)

// releaseScript: KEYS lock; ARGV value. Deletes the lock only while this grant holds it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// acquireReadScript: acquireScript's KEYS and ARGV, then KEYS conv unh msgs. Returns {0} when taken,
// else {token, the conversation's HGETALL, {seq, body} of each unhandled message (unsorted)}.
var acquireReadScript = redis.NewScript(acquire("{0}") + `local unh, msgs = KEYS[4], KEYS[5]` + unhandledRows +
	`return {t, redis.call('HGETALL', KEYS[3]), out}`)

// acquireHeadScript: acquireScript's KEYS and ARGV (the delivery lock's), then KEYS dp dv conv msgs.
// Returns {0} when taken, else {token, the headOfLine prelude's answer}.
var acquireHeadScript = redis.NewScript(headOfLine + acquire("{0}") +
	`return {t, headOfLine(KEYS[3], KEYS[4], KEYS[5], KEYS[6])}`)

// Lock waits for the conversation's lock; see channels.Locker.
func (l *Locker) Lock(ctx context.Context, conversation string) (context.Context, int64, func(), error) {
	held, token, unlock, _, err := l.lock(ctx, conversation, func(random string) (int64, []any, error) {
		token, err := acquireScript.Run(ctx, l.rdb, []string{l.k.lock(conversation), l.k.fence(conversation)},
			random, l.cfg.TTL.Milliseconds()).Int64()
		return token, nil, err
	})
	return held, token, unlock, err
}

// LockAndRead is Lock that also reads the conversation and its unhandled messages with the grant, in
// the same script (see channels.Locker); the Locker's prefix is the Store's, as
// Store.CommitTurnFenced already requires. conv is nil when there is no such conversation.
func (l *Locker) LockAndRead(ctx context.Context, conversation string) (context.Context, int64, func(), *channels.Conversation, []channels.Message, error) {
	held, token, unlock, res, err := l.lock(ctx, conversation, func(random string) (int64, []any, error) {
		res, err := acquireReadScript.Run(ctx, l.rdb,
			[]string{l.k.lock(conversation), l.k.fence(conversation), l.k.conv(conversation), l.k.unh(conversation), l.k.msgs(conversation)},
			random, l.cfg.TTL.Milliseconds()).Slice()
		if err != nil {
			return 0, nil, err
		}
		return toInt(res[0]), res, nil
	})
	if err != nil {
		return nil, 0, nil, nil, nil, err
	}
	conv, err := conversationOf(flatHash(res[1].([]any)))
	if casesvc.ErrorCode(err) == casesvc.ENOTFOUND {
		return held, token, unlock, nil, nil, nil
	} else if err != nil {
		unlock()
		return nil, 0, nil, nil, nil, err
	}
	unhandled, err := unhandledOf(conversation, res[2].([]any))
	if err != nil {
		unlock()
		return nil, 0, nil, nil, nil, wrap("lock and read", err)
	}
	return held, token, unlock, conv, unhandled, nil
}

// LockHeadOfLine waits for the conversation's delivery lock (channels.DeliveryLock) and reads with
// the grant, in the same script, the conversation without its state and its head of line with the
// message (see channels.Locker).
func (l *Locker) LockHeadOfLine(ctx context.Context, conversation string) (context.Context, func(), *channels.Conversation, *channels.Delivery, error) {
	name := channels.DeliveryLock(conversation)
	held, _, unlock, res, err := l.lock(ctx, name, func(random string) (int64, []any, error) {
		res, err := acquireHeadScript.Run(ctx, l.rdb,
			[]string{l.k.lock(name), l.k.fence(name), l.k.dp(conversation), l.k.dv(conversation), l.k.conv(conversation), l.k.msgs(conversation)},
			random, l.cfg.TTL.Milliseconds()).Slice()
		if err != nil {
			return 0, nil, err
		}
		return toInt(res[0]), res, nil
	})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	conv, head, err := headOfLineOf(conversation, res[1].([]any))
	if err != nil {
		unlock()
		return nil, nil, nil, nil, err
	}
	return held, unlock, conv, head, nil
}

// lock waits for the conversation's lock: try runs the acquiring script with this grant's random
// value and returns the token (0: taken) and what else the script read.
func (l *Locker) lock(ctx context.Context, conversation string, try func(random string) (int64, []any, error)) (context.Context, int64, func(), []any, error) {
	var b [16]byte
	_, _ = crand.Read(b[:])
	random := hex.EncodeToString(b[:])
	lockKey := l.k.lock(conversation)
	wait := time.Millisecond
	for {
		token, res, err := try(random)
		if err != nil {
			return nil, 0, nil, nil, wrap("lock", err)
		}
		if token > 0 {
			value := random + ":" + strconv.FormatInt(token, 10)
			held, unlock := l.hold(ctx, lockKey, value)
			return held, token, unlock, res, nil
		}
		// Taken: try again after a short, growing, jittered wait.
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, 0, nil, nil, ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, l.cfg.Poll)
	}
}

// hold renews the lock until unlock or until it is lost; held is cancelled then.
func (l *Locker) hold(ctx context.Context, lockKey, value string) (context.Context, func()) {
	held, cancel := context.WithCancel(ctx)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		t := time.NewTicker(l.cfg.Renew)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-held.Done():
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(context.Background(), l.cfg.TTL) // past it the lock is gone anyway
			n, err := renewScript.Run(rctx, l.rdb, []string{lockKey}, value, l.cfg.TTL.Milliseconds()).Int64()
			rcancel()
			if err == nil && n == 0 {
				return // lost: expired (and perhaps taken by another node)
			}
			// A failed renewal call is tried again at the next tick; the lock may still expire,
			// which the fenced commit notices.
		}
	}()
	var once sync.Once
	unlock := func() {
		once.Do(func() {
			close(stop)
			<-done
			rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer rcancel()
			_ = releaseScript.Run(rctx, l.rdb, []string{lockKey}, value).Err() // an expired lock frees itself
		})
	}
	return held, unlock
}

// Interface guards
var _ channels.Locker = (*Locker)(nil)
