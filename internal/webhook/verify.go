// Package webhook serves WebhookReceiver paths: it verifies Statsig's signed config_change
// webhooks and hands the events of a verified request to a Sink. It never logs a body or a secret.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Header names Statsig's Generic Webhook sends.
const (
	HeaderSignature = "X-Statsig-Signature"
	HeaderTimestamp = "X-Statsig-Request-Timestamp"
)

// MaxSkew is how far a request's timestamp may be from now, either way.
const MaxSkew = 5 * time.Minute

// Path is a receiver's path: /hook/ and the hex HMAC-SHA256, keyed with the signing secret, of the
// receiver's namespace and name. It cannot be guessed without the secret and changes with it.
func Path(secret []byte, namespace, name string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("statsig-operator.io/webhook-path\x00" + namespace + "\x00" + name))
	return "/hook/" + hex.EncodeToString(mac.Sum(nil))
}

// Secrets splits webhookSigningSecret into its secrets: one per line, blank lines and surrounding
// spaces ignored.
func Secrets(data []byte) [][]byte {
	var out [][]byte
	for _, line := range strings.Split(string(data), "\n") {
		if s := strings.TrimSpace(line); s != "" {
			out = append(out, []byte(s))
		}
	}
	return out
}

// verify checks a v0 signature over "v0:<timestamp>:<body>" against every secret, in constant
// time per secret; it tries them all, so that timing does not tell which one matched.
func verify(secrets [][]byte, timestamp string, body []byte, signature string) bool {
	got, ok := strings.CutPrefix(signature, "v0=")
	if !ok || len(got) != sha256.Size*2 {
		return false
	}
	want := make([]byte, sha256.Size)
	if _, err := hex.Decode(want, []byte(got)); err != nil {
		return false
	}
	match := false
	for _, s := range secrets {
		mac := hmac.New(sha256.New, s)
		mac.Write([]byte("v0:" + timestamp + ":"))
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), want) {
			match = true
		}
	}
	return match
}

// fresh reports whether a timestamp header (milliseconds since the epoch) is within MaxSkew of now.
func fresh(timestamp string, now time.Time) bool {
	ms, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || ms <= 0 {
		return false
	}
	d := now.Sub(time.UnixMilli(ms))
	return d <= MaxSkew && d >= -MaxSkew
}
