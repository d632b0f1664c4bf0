package objectstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
)

// openAzure opens an azblob:// container. Query parameters are gocloud's: domain, protocol, cdn,
// localemu (and storage_account, which must agree with the Secret when both are given).
func openAzure(ctx context.Context, u *url.URL, creds map[string][]byte) (*blob.Bucket, error) {
	if creds == nil {
		// The operator's own identity, resolved by gocloud from its environment.
		b, err := blob.OpenBucket(ctx, u.String())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidDestination, err)
		}
		return b, nil
	}

	account, err := requireKey(creds, KeyAzureAccount)
	if err != nil {
		return nil, err
	}
	if a := u.Query().Get("storage_account"); a != "" && a != account {
		return nil, invalidf("query parameter storage_account differs from the Secret's %s", KeyAzureAccount)
	}
	key := strings.TrimSpace(string(creds[KeyAzureKey]))
	sas := strings.TrimPrefix(strings.TrimSpace(string(creds[KeyAzureSASToken])), "?")
	if key == "" && sas == "" {
		return nil, invalidf("credentials Secret has neither %s nor %s", KeyAzureKey, KeyAzureSASToken)
	}
	if key != "" && sas != "" {
		return nil, invalidf("credentials Secret has both %s and %s; keep one", KeyAzureKey, KeyAzureSASToken)
	}

	opener := &azureblob.URLOpener{
		// Starting from zero options, not NewDefaultServiceURLOptions, keeps the operator's
		// AZURE_STORAGE_* environment out of a Secret-backed destination.
		ServiceURLOptions: azureblob.ServiceURLOptions{AccountName: account, SASToken: sas},
		MakeClient: func(svcURL azureblob.ServiceURL, name azureblob.ContainerName) (*container.Client, error) {
			containerURL, err := url.JoinPath(string(svcURL), string(name))
			if err != nil {
				// url errors quote the URL, which carries the SAS token.
				return nil, invalidf("container URL does not parse")
			}
			if sas != "" {
				return container.NewClientWithNoCredential(containerURL, &container.ClientOptions{
					ClientOptions: policy.ClientOptions{Transport: scrubbingTransport{http.DefaultClient}},
				})
			}
			cred, err := azblob.NewSharedKeyCredential(account, key)
			if err != nil {
				// The error text of a bad base64 key names only an offset, but stay on the safe side.
				return nil, invalidf("%s is not a valid storage account key", KeyAzureKey)
			}
			return container.NewClientWithSharedKeyCredential(containerURL, cred, nil)
		},
	}
	b, err := opener.OpenBucketURL(ctx, u)
	if err != nil {
		if errors.Is(err, ErrInvalidDestination) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidDestination, redactURL(u), err)
	}
	return b, nil
}

// scrubbingTransport sends requests with an http.Client and removes the query from the URL that
// its errors quote: with a SAS token the query is the credential, and a transport error (a refused
// connection, a reset) would otherwise carry it into logs and status messages.
type scrubbingTransport struct{ client *http.Client }

func (t scrubbingTransport) Do(req *http.Request) (*http.Response, error) {
	resp, err := t.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			if u, perr := url.Parse(ue.URL); perr == nil {
				ue.URL = redactURL(u)
			} else {
				ue.URL = "(unparsable URL)"
			}
		}
	}
	return resp, err
}
