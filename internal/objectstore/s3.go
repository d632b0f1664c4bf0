package objectstore

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
)

// defaultS3Region signs requests when the URL names no region. S3-compatible stores (MinIO, Ceph)
// accept it, and AWS answers a wrong region with an error that names the right one.
const defaultS3Region = "us-east-1"

func openS3(ctx context.Context, u *url.URL, creds map[string][]byte) (*blob.Bucket, error) {
	if creds == nil {
		// The operator's own identity: gocloud's opener resolves it through the default AWS chain
		// and understands every query parameter it documents (profile, role, ...).
		b, err := (&s3blob.URLOpener{}).OpenBucketURL(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidDestination, err)
		}
		return b, nil
	}

	keyID, err := requireKey(creds, KeyAWSAccessKeyID)
	if err != nil {
		return nil, err
	}
	secret, err := requireKey(creds, KeyAWSSecretAccessKey)
	if err != nil {
		return nil, err
	}
	token := strings.TrimSpace(string(creds[KeyAWSSessionToken]))

	// The config is built by hand rather than with config.LoadDefaultConfig, which would read the
	// operator's environment, shared config files and instance metadata: with a Secret, only the
	// Secret may supply credentials.
	cfg := aws.Config{
		Region:      defaultS3Region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(keyID, secret, token)),
		// The SDK's default retry token bucket fails requests with "retry quota exceeded" after a
		// burst of errors; an export is retried by its controller instead.
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
		},
	}
	var s3opts []func(*s3.Options)
	var bucketOpts s3blob.Options
	for param, values := range u.Query() {
		if len(values) != 1 {
			return nil, invalidf("query parameter %q given %d times", param, len(values))
		}
		value := values[0]
		switch param {
		case "region":
			cfg.Region = value
		case "endpoint":
			ep, err := url.Parse(value)
			if err != nil || (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "" {
				return nil, invalidf("query parameter endpoint must be an http(s) URL")
			}
			cfg.BaseEndpoint = aws.String(value)
		case "use_path_style", "s3ForcePathStyle", "hostname_immutable":
			// hostname_immutable meant "do not put the bucket into the host name" for gocloud's
			// legacy endpoint resolver, which is what path-style addressing does.
			v, err := parseBool(param, value)
			if err != nil {
				return nil, err
			}
			s3opts = append(s3opts, func(o *s3.Options) { o.UsePathStyle = v })
		case "disable_https":
			v, err := parseBool(param, value)
			if err != nil {
				return nil, err
			}
			s3opts = append(s3opts, func(o *s3.Options) { o.EndpointOptions.DisableHTTPS = v })
		case "accelerate":
			v, err := parseBool(param, value)
			if err != nil {
				return nil, err
			}
			s3opts = append(s3opts, func(o *s3.Options) { o.UseAccelerate = v })
		case "dualstack":
			v, err := parseBool(param, value)
			if err != nil {
				return nil, err
			}
			if v {
				s3opts = append(s3opts, func(o *s3.Options) {
					o.EndpointOptions.UseDualStackEndpoint = aws.DualStackEndpointStateEnabled
				})
			}
		case "fips":
			v, err := parseBool(param, value)
			if err != nil {
				return nil, err
			}
			if v {
				s3opts = append(s3opts, func(o *s3.Options) {
					o.EndpointOptions.UseFIPSEndpoint = aws.FIPSEndpointStateEnabled
				})
			}
		case "ssetype":
			sse, err := parseSSEType(value)
			if err != nil {
				return nil, err
			}
			bucketOpts.EncryptionType = sse
		case "kmskeyid":
			bucketOpts.KMSEncryptionID = value
		case "request_checksum_calculation":
			switch strings.ToLower(value) {
			case "when_supported":
				cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported
			case "when_required":
				cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			default:
				return nil, invalidf("query parameter %s must be when_supported or when_required", param)
			}
		case "response_checksum_validation":
			switch strings.ToLower(value) {
			case "when_supported":
				cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenSupported
			case "when_required":
				cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
			default:
				return nil, invalidf("query parameter %s must be when_supported or when_required", param)
			}
		case "awssdk":
			// gocloud's SDK-version selector; only v2 exists now.
		case "profile", "role", "anonymous":
			// Each of these takes credentials from somewhere other than the Secret.
			return nil, invalidf("query parameter %q cannot be combined with credentialsSecretRef", param)
		default:
			return nil, invalidf("unknown query parameter %q for s3://", param)
		}
	}
	if cfg.Region == "" {
		return nil, invalidf("query parameter region is empty")
	}
	bucketOpts.RequestChecksumCalculation = cfg.RequestChecksumCalculation
	client := s3.NewFromConfig(cfg, s3opts...)
	b, err := s3blob.OpenBucket(ctx, client, u.Host, &bucketOpts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDestination, err)
	}
	return b, nil
}

func parseBool(param, value string) (bool, error) {
	v, err := strconv.ParseBool(value)
	if err != nil {
		return false, invalidf("query parameter %s must be true or false", param)
	}
	return v, nil
}

func parseSSEType(value string) (types.ServerSideEncryption, error) {
	for _, t := range types.ServerSideEncryption("").Values() {
		if strings.EqualFold(string(t), value) {
			return t, nil
		}
	}
	return "", invalidf("query parameter ssetype %q is not one of AES256, aws:kms, aws:kms:dsse", value)
}
