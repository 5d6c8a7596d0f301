// Package secretgate dials a secretgate server and returns its generated gRPC clients with the
// caller's token attached to every call: SecretService (what a proxy calls) and, as Client.Admin on
// the same connection, AdminService (what an operator calls).
package secretgate

import (
	"context"
	"crypto/tls"
	"errors"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	secretgatev1 "github.com/secretgate/secretgate/clients/go/secretgatev1"
)

// Client is the generated SecretService client (Read, Write, Delete, Rotate, ListHosted, team
// settings) bound to one connection, with Admin, the generated AdminService client (WhoAmI,
// DescribeBackends, ListTeams, TestTeamSettings, GetStats, ListCallers, TailAudit, PlanMigration,
// MigrateSecret), on the same connection and token. Close releases the connection.
type Client struct {
	secretgatev1.SecretServiceClient
	Admin secretgatev1.AdminServiceClient
	conn  *grpc.ClientConn
}

// Close closes the underlying connection.
func (c *Client) Close() error { return c.conn.Close() }

type options struct {
	token    string
	tls      *tls.Config
	lookup   func(string) (string, bool)
	trace    TraceContext
	dialOpts []grpc.DialOption
}

// Option configures Dial.
type Option func(*options)

// WithToken sends `authorization: Bearer <token>` on every call.
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithTLS connects over TLS with the given configuration (nil: system roots). Without it the
// connection is plaintext, matching the server's own listener; terminate TLS in front of it
// whenever the token crosses a network you do not trust.
func WithTLS(config *tls.Config) Option {
	return func(o *options) {
		if config == nil {
			config = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		o.tls = config
	}
}

// NotHosted is the ItemError reason of a name the server does not host: the caller reads its own environment.
const NotHosted = "NOT_HOSTED"

// CallerEnvironment is the source of a Read result answered from the caller's own environment.
const CallerEnvironment = "caller_environment"

// WithEnvironmentFallback answers Read results the server marks NOT_HOSTED ("not hosted here: read it
// from your own environment"; secretgate never serves its own environment) from the caller's
// environment: found, with source CallerEnvironment. lookup is os.LookupEnv or a stand-in; nil means
// os.LookupEnv. Unset variables stay misses.
func WithEnvironmentFallback(lookup func(string) (string, bool)) Option {
	return func(o *options) {
		if lookup == nil {
			lookup = os.LookupEnv
		}
		o.lookup = lookup
	}
}

// TraceContext returns the W3C Trace Context of the caller's active span in ctx: its traceparent and
// tracestate header values ("" for none).
type TraceContext func(ctx context.Context) (traceparent, tracestate string)

// WithTraceContext sends the caller's trace context with every call as traceparent / tracestate
// metadata, so that secretgate's spans join the caller's trace. The client does not depend on
// OpenTelemetry; with OpenTelemetry-Go the source is its W3C propagator:
//
//	secretgate.WithTraceContext(func(ctx context.Context) (string, string) {
//		carrier := propagation.MapCarrier{}
//		propagation.TraceContext{}.Inject(ctx, carrier)
//		return carrier.Get("traceparent"), carrier.Get("tracestate")
//	})
//
// A call whose outgoing metadata already holds a traceparent (metadata.AppendToOutgoingContext)
// sends that one instead.
func WithTraceContext(source TraceContext) Option { return func(o *options) { o.trace = source } }

// WithDialOptions passes extra grpc.DialOptions (interceptors, keepalive, a blocking dial, …).
func WithDialOptions(dialOpts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, dialOpts...) }
}

// Dial connects to a secretgate gRPC address such as "127.0.0.1:50051". Like grpc.Dial it does not
// wait for the connection; the first call does, bounded by its context's deadline.
func Dial(addr string, opts ...Option) (*Client, error) {
	if addr == "" {
		return nil, errors.New("secretgate: address is empty")
	}
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	dialOpts := []grpc.DialOption{}
	if o.tls != nil {
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(credentials.NewTLS(o.tls)))
	} else {
		dialOpts = append(dialOpts, grpc.WithInsecure())
	}
	if o.token != "" {
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(bearerToken{header: "Bearer " + o.token, secure: o.tls != nil}))
	}
	var interceptors []grpc.UnaryClientInterceptor
	if o.trace != nil {
		interceptors = append(interceptors, traceContext(o.trace))
	}
	if o.lookup != nil {
		interceptors = append(interceptors, readFromEnvironment(o.lookup))
	}
	if len(interceptors) > 0 {
		dialOpts = append(dialOpts, grpc.WithChainUnaryInterceptor(interceptors...))
	}
	conn, err := grpc.Dial(addr, append(dialOpts, o.dialOpts...)...)
	if err != nil {
		return nil, err
	}
	return &Client{SecretServiceClient: secretgatev1.NewSecretServiceClient(conn), Admin: secretgatev1.NewAdminServiceClient(conn), conn: conn}, nil
}

// traceContext adds the caller's trace context to each call that does not carry one yet.
func traceContext(source TraceContext) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if sent, _ := metadata.FromOutgoingContext(ctx); len(sent.Get("traceparent")) == 0 {
			if traceparent, tracestate := source(ctx); traceparent != "" {
				pairs := []string{"traceparent", traceparent}
				if tracestate != "" {
					pairs = append(pairs, "tracestate", tracestate)
				}
				ctx = metadata.AppendToOutgoingContext(ctx, pairs...)
			}
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// readFromEnvironment fills the Read results the server did not host from lookup.
func readFromEnvironment(lookup func(string) (string, bool)) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
			return err
		}
		response, ok := reply.(*secretgatev1.ReadResponse)
		if !ok || method != "/secretgate.v1.SecretService/Read" {
			return nil
		}
		for _, result := range response.Results {
			if result.GetError().GetReason() != NotHosted {
				continue
			}
			if value, set := lookup(result.Name); set {
				result.Found, result.Value, result.Source, result.Error = true, value, CallerEnvironment, nil
			}
		}
		return nil
	}
}

// bearerToken is per-RPC credentials carrying a static token.
type bearerToken struct {
	// header is the authorization value, built once rather than on every call.
	header string
	secure bool
}

// GetRequestMetadata answers a map of its own each call: grpc-go does not promise to leave it untouched.
func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": b.header}, nil
}

// RequireTransportSecurity is false on plaintext connections, which the caller chose explicitly by
// not passing WithTLS (grpc-go would otherwise refuse to send the token at all).
func (b bearerToken) RequireTransportSecurity() bool { return b.secure }
