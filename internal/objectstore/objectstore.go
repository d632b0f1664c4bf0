// Package objectstore opens the buckets that exports are written to, from a destination URL and the
// data of an optional credentials Secret.
//
// A destination that names a Secret is opened with that Secret's credentials and nothing else: the
// operator's own environment, shared config files, metadata servers and workload identity are never
// consulted for it, so that one tenant's export cannot borrow the operator's identity or another
// tenant's. Only a destination without a Secret uses the operator's ambient identity, and only when
// the operator allows it.
package objectstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
)

// Secret data keys of an object-store credentials Secret, fixed by the DailyReportExport contract.
const (
	KeyAWSAccessKeyID     = "AWS_ACCESS_KEY_ID"
	KeyAWSSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	KeyAWSSessionToken    = "AWS_SESSION_TOKEN"
	KeyGoogleCredentials  = "GOOGLE_APPLICATION_CREDENTIALS_JSON"
	KeyAzureAccount       = "AZURE_STORAGE_ACCOUNT"
	KeyAzureKey           = "AZURE_STORAGE_KEY"
	KeyAzureSASToken      = "AZURE_STORAGE_SAS_TOKEN"
)

// URL schemes that Open accepts.
const (
	SchemeS3    = "s3"
	SchemeGCS   = "gs"
	SchemeAzure = "azblob"
	SchemeFile  = "file"
)

var (
	// ErrNotAllowed reports a destination that the operator's flags forbid: a file:// URL without
	// Options.AllowFile, or a cloud URL without credentials and without
	// Options.AllowAmbientCredentials. A controller reports it as DestinationNotAllowed.
	ErrNotAllowed = errors.New("destination not allowed")

	// ErrInvalidDestination reports a destination that can never be opened as given: a malformed URL,
	// an unsupported scheme or query parameter, or a credentials Secret that lacks a key (the message
	// names the key, never a value).
	ErrInvalidDestination = errors.New("invalid destination")
)

// Options are the operator-wide permissions that a destination is checked against.
type Options struct {
	// AllowFile permits file:// destinations (local runs and tests).
	AllowFile bool
	// AllowAmbientCredentials permits s3, gs and azblob destinations without a credentials Secret,
	// which then use the operator's own identity (IRSA, workload identity, ...).
	AllowAmbientCredentials bool
}

// Destination is where an export goes.
type Destination struct {
	// URL is the bucket URL: s3://bucket?region=..., gs://bucket, azblob://container, file:///dir.
	URL string
	// Credentials is the data of the credentials Secret, nil when the resource names no Secret.
	Credentials map[string][]byte
}

// Open opens the bucket that d names, after checking it against o.
//
// Query parameters, with a credentials Secret:
//   - s3://bucket: region (default us-east-1), endpoint (an http(s) base URL for S3-compatible
//     stores), use_path_style / s3ForcePathStyle / hostname_immutable, disable_https, accelerate,
//     dualstack, fips, ssetype, kmskeyid, request_checksum_calculation and
//     response_checksum_validation (when_supported | when_required). profile, role and anonymous
//     are refused: they take credentials from elsewhere. Without a Secret, every parameter of
//     gocloud's s3blob opener.
//   - gs://bucket: endpoint, the JSON API base URL of a GCS-compatible server
//     (http://host:port/storage/v1/).
//   - azblob://container: domain, protocol, cdn, localemu as gocloud's azureblob defines them
//     (Azurite: ?domain=127.0.0.1:10000&protocol=http&localemu=true), and storage_account, which
//     must match the Secret's AZURE_STORAGE_ACCOUNT.
//   - file:///dir: gocloud's fileblob parameters (create_dir, no_tmp_dir, ...).
//
// Errors wrap ErrNotAllowed or
// ErrInvalidDestination when the destination itself is at fault; other errors (a failure to build
// a client) may be transient. The caller closes the bucket.
func Open(ctx context.Context, d Destination, o Options) (*blob.Bucket, error) {
	u, err := ParseURL(d.URL)
	if err != nil {
		return nil, err
	}
	if u.Scheme == SchemeFile {
		if !o.AllowFile {
			return nil, fmt.Errorf("%w: file:// destinations are disabled in this operator", ErrNotAllowed)
		}
		if d.Credentials != nil {
			return nil, invalidf("file:// destinations take no credentials Secret")
		}
		b, err := (&fileblob.URLOpener{}).OpenBucketURL(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("%w: open %s: %w", ErrInvalidDestination, redactURL(u), err)
		}
		return b, nil
	}
	if d.Credentials == nil && !o.AllowAmbientCredentials {
		return nil, fmt.Errorf("%w: %s:// destination without credentialsSecretRef, and the operator's own credentials are disabled",
			ErrNotAllowed, u.Scheme)
	}
	switch u.Scheme {
	case SchemeS3:
		return openS3(ctx, u, d.Credentials)
	case SchemeGCS:
		return openGCS(ctx, u, d.Credentials)
	default: // SchemeAzure; ParseURL admits nothing else.
		return openAzure(ctx, u, d.Credentials)
	}
}

// ParseURL parses and checks a destination URL without opening it, so that a controller can reject
// a bad spec before it fetches any Secret. Errors wrap ErrInvalidDestination.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL; the user has it already, and its query might hold anything.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, invalidf("destination URL does not parse: %v", err)
	}
	switch u.Scheme {
	case SchemeS3, SchemeGCS, SchemeAzure:
		if u.Host == "" {
			return nil, invalidf("%s:// URL has no bucket name", u.Scheme)
		}
		if strings.Trim(u.Path, "/") != "" {
			return nil, invalidf("%s:// URL must name only the bucket; put the key prefix in destination.objectStore.prefix", u.Scheme)
		}
		if u.User != nil {
			return nil, invalidf("%s:// URL must not carry user information; use credentialsSecretRef", u.Scheme)
		}
	case SchemeFile:
		if u.Path == "" {
			return nil, invalidf("file:// URL has no directory")
		}
	default:
		return nil, invalidf("unsupported scheme %q (want s3, gs, azblob or file)", u.Scheme)
	}
	return u, nil
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidDestination, fmt.Sprintf(format, args...))
}

// requireKey returns the value of a Secret key that must be present and non-empty.
func requireKey(creds map[string][]byte, key string) (string, error) {
	v := strings.TrimSpace(string(creds[key]))
	if v == "" {
		return "", invalidf("credentials Secret has no %s", key)
	}
	return v, nil
}

// redactURL drops the query from u for messages, because some users put tokens there.
func redactURL(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	c.User = nil
	return c.String()
}
