package sms

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"claimline/channels"
	"claimline/dialog"
)

// Documents stores the bytes of MMS media, content-addressed. casesvc/blobstore satisfies it (the
// same interface as webchat.Documents; adapters do not import each other).
type Documents interface {
	// Put stores at most maxBytes from r and returns its reference, hex SHA-256 and size.
	Put(ctx context.Context, r io.Reader, maxBytes int64) (ref, sha256 string, size int64, err error)
}

// Media limits: Twilio sends at most 10 media per MMS; a file may be 20 MiB (like an upload).
const (
	MaxMediaSize   = 20 << 20
	maxMediaItems  = 10
	mediaTimeout   = time.Minute
	maxRedirects   = 3
	twilioAPIHost  = "api.twilio.com"
	mediaUserAgent = "claimline-sms"
)

// mediaError is why one media item was not taken. Transient ones (Twilio's media host failing) make
// the webhook answer 503 with nothing stored; the others drop that item.
type mediaError struct {
	code      string
	transient bool
}

func (e *mediaError) Error() string { return "sms media: " + e.code }

// fetchMedia fetches, checks and stores every media item of an MMS, in order.
func (a *Adapter) fetchMedia(ctx context.Context, p map[string]string) ([]dialog.Attachment, error) {
	n, _ := strconv.Atoi(p["NumMedia"])
	if n <= 0 {
		return nil, nil
	}
	n = min(n, maxMediaItems)
	if a.docs == nil {
		a.log.Warn("sms media refused", "code", "no_document_store", "count", n)
		return nil, nil
	}
	var atts []dialog.Attachment
	for i := range n {
		att, err := a.fetchOne(ctx, p["MediaUrl"+strconv.Itoa(i)], i)
		var me *mediaError
		switch {
		case err == nil:
			atts = append(atts, att)
		case errors.As(err, &me) && !me.transient:
			a.log.Warn("sms media refused", "item", i, "code", me.code)
		default:
			return nil, err
		}
	}
	return atts, nil
}

// mediaURLAllowed reports whether u is on one of Twilio's own hosts, the only ones that get the
// account's credentials: https://api.twilio.com, or the configured APIBase (scheme and host:port
// exactly as configured).
func (a *Adapter) mediaURLAllowed(u *url.URL) bool {
	if u.User != nil || u.Host == "" {
		return false
	}
	if u.Scheme == a.apiBase.Scheme && hostPort(u) == hostPort(a.apiBase) {
		return true
	}
	return u.Scheme == "https" && hostPort(u) == twilioAPIHost+":443"
}

func (a *Adapter) fetchOne(ctx context.Context, raw string, i int) (dialog.Attachment, error) {
	u, err := url.Parse(raw)
	if err != nil || !a.mediaURLAllowed(u) {
		return dialog.Attachment{}, &mediaError{code: "foreign_host"}
	}
	ctx, cancel := context.WithTimeout(ctx, mediaTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return dialog.Attachment{}, &mediaError{code: "bad_url"}
	}
	req.SetBasicAuth(a.sid, a.token)
	req.Header.Set("User-Agent", mediaUserAgent)
	resp, err := a.media.Do(req)
	if err != nil {
		var me *mediaError
		if errors.As(err, &me) {
			return dialog.Attachment{}, me
		}
		return dialog.Attachment{}, &mediaError{code: "fetch_failed", transient: true}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return dialog.Attachment{}, &mediaError{code: "media_" + strconv.Itoa(resp.StatusCode), transient: true}
	default:
		return dialog.Attachment{}, &mediaError{code: "media_" + strconv.Itoa(resp.StatusCode)}
	}
	if resp.ContentLength > MaxMediaSize {
		return dialog.Attachment{}, &mediaError{code: "too_large"}
	}
	br := bufio.NewReaderSize(resp.Body, 4096)
	head, err := br.Peek(512)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return dialog.Attachment{}, &mediaError{code: "fetch_failed", transient: true}
	}
	ctype := channels.SniffDocument(head)
	if ctype == "" {
		return dialog.Attachment{}, &mediaError{code: "unsupported_type"}
	}
	body := &countingReader{r: br}
	ref, sum, size, err := a.docs.Put(ctx, body, MaxMediaSize)
	switch {
	case body.n > MaxMediaSize:
		return dialog.Attachment{}, &mediaError{code: "too_large"}
	case body.err != nil:
		return dialog.Attachment{}, &mediaError{code: "fetch_failed", transient: true}
	case err != nil:
		return dialog.Attachment{}, &mediaError{code: "store_failed", transient: true}
	}
	return dialog.Attachment{
		ID: newDocumentID(), Filename: fmt.Sprintf("mms-%d%s", i+1, extension(ctype)), ContentType: ctype,
		Size: size, SHA256: sum, BlobRef: ref,
	}, nil
}

// newMediaClient returns the client that fetches media: no proxy, at most maxRedirects redirects,
// https only after the first hop (except to APIBase), credentials only to the host they were meant
// for, and a dialer that refuses internal addresses (resolved IPs, so DNS cannot smuggle one in)
// other than the configured APIBase's.
func (a *Adapter) newMediaClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	trusted := a.trustedDial
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if trusted != "" && addr == trusted {
				return dialer.DialContext(ctx, network, addr)
			}
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, &mediaError{code: "bad_address"}
			}
			ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			if err != nil {
				return nil, &mediaError{code: "dns_failed", transient: true}
			}
			for _, ip := range ips {
				if !publicAddr(ip) {
					return nil, &mediaError{code: "internal_address"}
				}
			}
			var last error
			for _, ip := range ips {
				c, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
				if err == nil {
					return c, nil
				}
				last = err
			}
			if last == nil {
				last = &mediaError{code: "dns_failed", transient: true}
			}
			return nil, last
		},
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   mediaTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return &mediaError{code: "too_many_redirects"}
			}
			toTrusted := trusted != "" && req.URL.Scheme == a.apiBase.Scheme && hostPort(req.URL) == trusted
			if req.URL.Scheme != "https" && !toTrusted {
				return &mediaError{code: "insecure_redirect"}
			}
			// Twilio redirects media to its CDN: follow, but the credentials stay with Twilio's API.
			if hostPort(req.URL) != hostPort(via[0].URL) || req.URL.Scheme != via[0].URL.Scheme {
				req.Header.Del("Authorization")
			}
			return nil
		},
	}
}

// prefixes that are not the public internet, beyond what netip's predicates cover.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach IPv4 internals
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"), // 6to4 embeds any IPv4
}

// publicAddr reports whether ip is a global unicast address outside private and special ranges.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || !ip.IsGlobalUnicast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// hostPort is u's host with the scheme's default port made explicit, lower-cased.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return net.JoinHostPort(toLower(u.Hostname()), port)
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

type countingReader struct {
	r   io.Reader
	n   int64
	err error // a read error other than EOF (the network, not the store)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

func extension(ctype string) string {
	switch ctype {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/heic":
		return ".heic"
	case "application/pdf":
		return ".pdf"
	}
	return ""
}
