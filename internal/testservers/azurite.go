package testservers

import (
	"context"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
)

// Azurite's built-in development account: public, documented, and accepted by nothing but
// emulators.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// AzureServer is a running Azurite (Blob service only).
type AzureServer struct {
	// Endpoint is the account's service URL, http://127.0.0.1:<port>/devstoreaccount1.
	Endpoint string
	// Host is 127.0.0.1:<port>, the domain query parameter of destination URLs.
	Host string
	// Account and Key are the shared-key credentials.
	Account, Key string
	// Container is a container created at start.
	Container string

	proc *process
}

// StartAzurite starts Azurite's Blob service on a free loopback port with a fresh workspace and
// creates Container.
func StartAzurite(t testing.TB) *AzureServer {
	t.Helper()
	bin := binary(t, "azurite-blob")
	s := &AzureServer{Account: azuriteAccount, Key: azuriteKey, Container: "exports"}
	work := t.TempDir()
	proc, port := startWithRetry(t, "azurite", func(port int) (*process, func() error) {
		p := &process{
			name: "azurite",
			path: bin,
			// Azurite keeps its metadata in memory and writes it out on exit: killed, it forgets
			// the containers it had.
			graceful: syscall.SIGTERM,
			args: []string{
				"--blobHost", "127.0.0.1", "--blobPort", itoa(port), "--location", work,
				"--silent", "--loose", "--skipApiVersionCheck", "--disableTelemetry", "--disableProductStyleUrl",
				// Short keep-alive: a graceful stop waits for idle client connections to close.
				"--blobKeepAliveTimeout", "1",
			},
		}
		return p, func() error { return httpAnswers("http://" + hostPort(port) + "/" + azuriteAccount + "?comp=list") }
	})
	s.proc = proc
	s.Host = hostPort(port)
	s.Endpoint = "http://" + s.Host + "/" + s.Account
	s.CreateContainer(t, s.Container)
	return s
}

// URL is the destination URL of container on this server.
func (s *AzureServer) URL(containerName string) string {
	q := url.Values{}
	q.Set("domain", s.Host)
	q.Set("protocol", "http")
	q.Set("localemu", "true")
	return "azblob://" + containerName + "?" + q.Encode()
}

// Credentials is the data of a credentials Secret with the account key.
func (s *AzureServer) Credentials() map[string][]byte {
	return map[string][]byte{
		"AZURE_STORAGE_ACCOUNT": []byte(s.Account),
		"AZURE_STORAGE_KEY":     []byte(s.Key),
	}
}

// SASCredentials is the data of a credentials Secret with a container SAS token instead of the key,
// valid for an hour and allowing what an export does.
func (s *AzureServer) SASCredentials(t testing.TB, containerName string) map[string][]byte {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(s.Account, s.Key)
	if err != nil {
		t.Fatalf("azurite credential: %v", err)
	}
	perms := sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}
	q, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		StartTime:     time.Now().Add(-time.Hour).UTC(),
		ExpiryTime:    time.Now().Add(time.Hour).UTC(),
		ContainerName: containerName,
		Permissions:   perms.String(),
	}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatalf("sign SAS: %v", err)
	}
	return map[string][]byte{
		"AZURE_STORAGE_ACCOUNT":   []byte(s.Account),
		"AZURE_STORAGE_SAS_TOKEN": []byte(q.Encode()),
	}
}

// CreateContainer creates a container.
func (s *AzureServer) CreateContainer(t testing.TB, name string) {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(s.Account, s.Key)
	if err != nil {
		t.Fatalf("azurite credential: %v", err)
	}
	c, err := container.NewClientWithSharedKeyCredential(s.Endpoint+"/"+name, cred, nil)
	if err != nil {
		t.Fatalf("container client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Create(ctx, nil); err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
}

// Stop stops the server (gracefully, so that it keeps its containers); Restart brings it back on the same port and workspace.
func (s *AzureServer) Stop() { s.proc.stop() }

// Restart starts a stopped server again and waits until it is ready.
func (s *AzureServer) Restart(t testing.TB) {
	t.Helper()
	if err := s.proc.start(); err != nil {
		t.Fatalf("%v", err)
	}
	if err := s.proc.waitReady(func() error { return httpAnswers(s.Endpoint + "?comp=list") }); err != nil {
		t.Fatalf("restart azurite: %v", err)
	}
}
