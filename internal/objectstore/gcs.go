package objectstore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/gcp"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/option"
)

// openGCS opens a gs:// bucket. The one query parameter is endpoint, the JSON API base URL of a
// GCS-compatible server (fake-gcs-server: http://host:port/storage/v1/). gocloud's own opener
// takes the emulator only from the process-wide STORAGE_EMULATOR_HOST, which cannot differ per
// resource.
func openGCS(ctx context.Context, u *url.URL, creds map[string][]byte) (*blob.Bucket, error) {
	var opts gcsblob.Options
	for param, values := range u.Query() {
		if len(values) != 1 {
			return nil, invalidf("query parameter %q given %d times", param, len(values))
		}
		switch param {
		case "endpoint":
			ep, err := url.Parse(values[0])
			if err != nil || (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "" {
				return nil, invalidf("query parameter endpoint must be an http(s) URL")
			}
			opts.ClientOptions = append(opts.ClientOptions, option.WithEndpoint(values[0]))
		default:
			return nil, invalidf("unknown query parameter %q for gs://", param)
		}
	}

	var gcreds *google.Credentials
	if creds == nil {
		var err error
		gcreds, err = gcp.DefaultCredentials(ctx)
		if err != nil {
			return nil, fmt.Errorf("load the operator's Google credentials: %w", err)
		}
	} else {
		raw, err := requireKey(creds, KeyGoogleCredentials)
		if err != nil {
			return nil, err
		}
		if err := checkServiceAccountKey([]byte(raw)); err != nil {
			return nil, err
		}
		// Only service-account keys: other credential types (external_account in particular) can
		// make the operator read files or run programs on its own host to obtain a token.
		gcreds, err = google.CredentialsFromJSONWithType(ctx, []byte(raw), google.ServiceAccount, storage.ScopeReadWrite)
		if err != nil {
			// The library's message could quote the key material; say only what is wrong.
			return nil, invalidf("%s is not a usable service account key", KeyGoogleCredentials)
		}
	}
	client, err := gcp.NewHTTPClient(gcp.DefaultTransport(), gcp.CredentialsTokenSource(gcreds))
	if err != nil {
		return nil, fmt.Errorf("build GCS client: %w", err)
	}
	b, err := gcsblob.OpenBucket(ctx, client, u.Host, &opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDestination, err)
	}
	return b, nil
}

// checkServiceAccountKey rejects a key that is not JSON or not a service-account key with a message
// that names the problem without quoting the key.
func checkServiceAccountKey(raw []byte) error {
	var f struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return invalidf("%s is not JSON", KeyGoogleCredentials)
	}
	if f.Type != "service_account" {
		return invalidf("%s must be a service account key (\"type\": \"service_account\")", KeyGoogleCredentials)
	}
	if strings.TrimSpace(f.ClientEmail) == "" || strings.TrimSpace(f.PrivateKey) == "" {
		return invalidf("%s lacks client_email or private_key", KeyGoogleCredentials)
	}
	return nil
}
