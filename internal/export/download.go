package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// ErrInsecureURL reports a download URL (or a redirect) that is not https.
var ErrInsecureURL = errors.New("report download URL must be https")

// DownloadError is a download that the server answered with a status other than 200.
type DownloadError struct {
	StatusCode int
}

func (e *DownloadError) Error() string {
	return fmt.Sprintf("download report: HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}

// Download starts the download of a report from its short-lived URL and returns the body, which the
// caller reads (typically through Export or Stream) and closes.
//
// It takes no Statsig key and sends no credentials: the URL is on another host than Statsig's API
// and is authorised by its own signature. Pass a client whose transport adds no auth headers. The
// URL, and every redirect, must be https. ctx bounds the whole download, body included. A body that
// ends early (a reset, fewer bytes than Content-Length) fails the read, so an upload fed from it is
// abandoned rather than completed. Errors never quote the URL's query, which holds its signature.
func Download(ctx context.Context, client *http.Client, rawURL string) (io.ReadCloser, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("download report: URL does not parse")
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%w: got %s://", ErrInsecureURL, u.Scheme)
	}
	if client == nil {
		client = http.DefaultClient
	}
	c := *client
	next := client.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return fmt.Errorf("%w: redirected to %s://", ErrInsecureURL, req.URL.Scheme)
		}
		// A fresh request carries no credentials, but a redirect must not pick up any either.
		req.Header.Del("Authorization")
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("download report: %w", redactURLError(err))
	}
	// Asking for gzip ourselves turns off the transport's transparent decompression: a body sent
	// with Content-Encoding: gzip then arrives as the gzip bytes, which Stream recognises and, for
	// Gzip exports, stores without recompressing.
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download report: %w", redactURLError(err))
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
		return nil, &DownloadError{StatusCode: resp.StatusCode}
	}
	return &bodyReader{rc: resp.Body, size: resp.ContentLength}, nil
}

// bodyReader scrubs the URL from errors that arrive mid-body.
type bodyReader struct {
	rc   io.ReadCloser
	size int64
}

// Size is the body's announced length in bytes (Content-Length), or -1. Export sizes its upload's
// parts by it.
func (b *bodyReader) Size() int64 { return b.size }

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("download report: %w", redactURLError(err))
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.rc.Close() }

// redactURLError strips the query and user info from the URL that a *url.Error quotes.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery = ""
			u.User = nil
			ue.URL = u.String()
		} else {
			ue.URL = "(report URL)"
		}
	}
	return err
}
