package objectstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"gocloud.dev/blob"

	"github.com/statsig-operator/statsig-operator/internal/objectstore"
	"github.com/statsig-operator/statsig-operator/internal/testservers"
)

func open(d objectstore.Destination, o objectstore.Options) error {
	b, err := objectstore.Open(context.Background(), d, o)
	if err == nil {
		_ = b.Close()
	}
	return err
}

func TestFileNeedsAllowFile(t *testing.T) {
	g := NewWithT(t)
	d := objectstore.Destination{URL: "file://" + filepath.ToSlash(t.TempDir())}
	err := open(d, objectstore.Options{AllowAmbientCredentials: true})
	g.Expect(errors.Is(err, objectstore.ErrNotAllowed)).To(BeTrue(), "got %v", err)
	g.Expect(open(d, objectstore.Options{AllowFile: true})).To(Succeed())
}

func TestCloudWithoutCredentialsNeedsAmbient(t *testing.T) {
	for _, u := range []string{"s3://bucket?region=eu-west-1", "gs://bucket", "azblob://container"} {
		t.Run(u, func(t *testing.T) {
			g := NewWithT(t)
			err := open(objectstore.Destination{URL: u}, objectstore.Options{AllowFile: true})
			g.Expect(errors.Is(err, objectstore.ErrNotAllowed)).To(BeTrue(), "got %v", err)
		})
	}
}

func TestInvalidDestinations(t *testing.T) {
	s3creds := map[string][]byte{"AWS_ACCESS_KEY_ID": []byte("id"), "AWS_SECRET_ACCESS_KEY": []byte("s3cr3t-value")}
	for _, tc := range []struct {
		name  string
		d     objectstore.Destination
		wants string // a part of the message
	}{
		{"unknown scheme", objectstore.Destination{URL: "http://bucket"}, "unsupported scheme"},
		{"mem scheme", objectstore.Destination{URL: "mem://"}, "unsupported scheme"},
		{"no bucket", objectstore.Destination{URL: "s3://?region=x", Credentials: s3creds}, "no bucket"},
		{"path in URL", objectstore.Destination{URL: "s3://b/some/prefix", Credentials: s3creds}, "only the bucket"},
		{"unparsable", objectstore.Destination{URL: "s3://b\x7f"}, "does not parse"},
		{"s3 missing secret key", objectstore.Destination{URL: "s3://b", Credentials: map[string][]byte{"AWS_ACCESS_KEY_ID": []byte("id")}}, "AWS_SECRET_ACCESS_KEY"},
		{"s3 missing key id", objectstore.Destination{URL: "s3://b", Credentials: map[string][]byte{"AWS_SECRET_ACCESS_KEY": []byte("s3cr3t-value")}}, "AWS_ACCESS_KEY_ID"},
		{"s3 profile with a Secret", objectstore.Destination{URL: "s3://b?profile=admin", Credentials: s3creds}, "profile"},
		{"s3 role with a Secret", objectstore.Destination{URL: "s3://b?role=arn:aws:iam::1:role/x", Credentials: s3creds}, "role"},
		{"s3 unknown parameter", objectstore.Destination{URL: "s3://b?colour=blue", Credentials: s3creds}, "colour"},
		{"s3 bad endpoint", objectstore.Destination{URL: "s3://b?endpoint=ftp://x", Credentials: s3creds}, "endpoint"},
		{"gcs missing key", objectstore.Destination{URL: "gs://b", Credentials: map[string][]byte{}}, "GOOGLE_APPLICATION_CREDENTIALS_JSON"},
		{"gcs not JSON", objectstore.Destination{URL: "gs://b", Credentials: map[string][]byte{
			"GOOGLE_APPLICATION_CREDENTIALS_JSON": []byte("s3cr3t-value")}}, "not JSON"},
		{"gcs external account", objectstore.Destination{URL: "gs://b", Credentials: map[string][]byte{
			"GOOGLE_APPLICATION_CREDENTIALS_JSON": []byte(`{"type":"external_account","credential_source":{"file":"/var/run/secrets/token"},"x":"s3cr3t-value"}`)}}, "service account"},
		{"azure missing account", objectstore.Destination{URL: "azblob://c", Credentials: map[string][]byte{"AZURE_STORAGE_KEY": []byte("s3cr3t-value")}}, "AZURE_STORAGE_ACCOUNT"},
		{"azure missing key and sas", objectstore.Destination{URL: "azblob://c", Credentials: map[string][]byte{"AZURE_STORAGE_ACCOUNT": []byte("acct")}}, "AZURE_STORAGE_SAS_TOKEN"},
		{"azure bad key", objectstore.Destination{URL: "azblob://c", Credentials: map[string][]byte{
			"AZURE_STORAGE_ACCOUNT": []byte("acct"), "AZURE_STORAGE_KEY": []byte("s3cr3t-value!")}}, "AZURE_STORAGE_KEY"},
		{"azure other account in URL", objectstore.Destination{URL: "azblob://c?storage_account=other", Credentials: map[string][]byte{
			"AZURE_STORAGE_ACCOUNT": []byte("acct"), "AZURE_STORAGE_KEY": []byte("a2V5")}}, "storage_account"},
		{"file with credentials", objectstore.Destination{URL: "file:///tmp/x", Credentials: map[string][]byte{}}, "no credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := open(tc.d, objectstore.Options{AllowFile: true, AllowAmbientCredentials: true})
			g.Expect(errors.Is(err, objectstore.ErrInvalidDestination)).To(BeTrue(), "got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.wants))
			g.Expect(err.Error()).NotTo(ContainSubstring("s3cr3t-value"))
		})
	}
}

// TestSecretCredentialsOnly gives the process environment working MinIO credentials and the
// Secret wrong ones: the bucket must be opened with the Secret's, and so be refused, and the
// error must not quote them.
func TestSecretCredentialsOnly(t *testing.T) {
	g := NewWithT(t)
	s := testservers.StartMinIO(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	ctx := context.Background()

	wrong := map[string][]byte{"AWS_ACCESS_KEY_ID": []byte(s.AccessKey), "AWS_SECRET_ACCESS_KEY": []byte("wrong-s3cr3t-value")}
	b, err := objectstore.Open(ctx, objectstore.Destination{URL: s.URL(s.Bucket), Credentials: wrong}, objectstore.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = b.Close() }()
	err = b.WriteAll(ctx, "probe", []byte("x"), nil)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).NotTo(ContainSubstring("wrong-s3cr3t-value"))

	// And with the right Secret it works, without any ambient permission.
	good, err := objectstore.Open(ctx, objectstore.Destination{URL: s.URL(s.Bucket), Credentials: s.Credentials()}, objectstore.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = good.Close() }()
	g.Expect(good.WriteAll(ctx, "probe", []byte("x"), nil)).To(Succeed())
}

// TestAmbientS3 opens a destination without a Secret when the operator allows it: the AWS chain
// then finds the environment's credentials.
func TestAmbientS3(t *testing.T) {
	g := NewWithT(t)
	s := testservers.StartMinIO(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	ctx := context.Background()
	b, err := objectstore.Open(ctx, objectstore.Destination{URL: s.URL(s.Bucket)}, objectstore.Options{AllowAmbientCredentials: true})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = b.Close() }()
	g.Expect(b.WriteAll(ctx, "ambient", []byte("x"), nil)).To(Succeed())
}

func TestAzureSASErrorsDoNotQuoteTheToken(t *testing.T) {
	g := NewWithT(t)
	s := testservers.StartAzurite(t)
	creds := s.SASCredentials(t, s.Container)
	token := string(creds["AZURE_STORAGE_SAS_TOKEN"])
	ctx := context.Background()
	b, err := objectstore.Open(ctx, objectstore.Destination{URL: s.URL(s.Container), Credentials: creds}, objectstore.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = b.Close() }()
	g.Expect(b.WriteAll(ctx, "sas-probe", []byte("x"), nil)).To(Succeed())

	// With the server gone, the transport error names the URL; the token must not be in it.
	s.Stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Upload, not WriteAll: gocloud's Azure writer panics when a Write-path upload fails.
	err = b.Upload(ctx, "sas-probe-2", strings.NewReader("x"), &blob.WriterOptions{ContentType: "text/plain"})
	g.Expect(err).To(HaveOccurred())
	t.Logf("error with the server gone: %v", err)
	sig := token[strings.Index(token, "sig="):]
	g.Expect(err.Error()).NotTo(ContainSubstring(sig))
}
