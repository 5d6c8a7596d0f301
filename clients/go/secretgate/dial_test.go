package secretgate

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	secretgatev1 "github.com/secretgate/secretgate/clients/go/secretgatev1"
)

// recorder answers Read and WhoAmI and records the authorization metadata of each call.
type recorder struct {
	secretgatev1.UnimplementedSecretServiceServer
	seen chan []string
}

// adminRecorder is the AdminService side of the recorder.
type adminRecorder struct {
	secretgatev1.UnimplementedAdminServiceServer
	seen chan []string
}

func (r *adminRecorder) WhoAmI(ctx context.Context, _ *secretgatev1.WhoAmIRequest) (*secretgatev1.WhoAmIResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	r.seen <- md.Get("authorization")
	return &secretgatev1.WhoAmIResponse{Caller: &secretgatev1.Caller{Name: "recorded-admin", Admin: true}}, nil
}

func (r *recorder) Read(ctx context.Context, in *secretgatev1.ReadRequest) (*secretgatev1.ReadResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	r.seen <- md.Get("authorization")
	return &secretgatev1.ReadResponse{Results: []*secretgatev1.SecretResult{{Name: in.Names[0], Found: true, Value: "recorded"}}}, nil
}

func startRecorder(t *testing.T) (*recorder, string) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	r := &recorder{seen: make(chan []string, 4)}
	secretgatev1.RegisterSecretServiceServer(server, r)
	secretgatev1.RegisterAdminServiceServer(server, &adminRecorder{seen: r.seen})
	go server.Serve(listener)
	t.Cleanup(server.Stop)
	return r, listener.Addr().String()
}

func read(t *testing.T, client *Client) (*secretgatev1.ReadResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return client.Read(ctx, &secretgatev1.ReadRequest{Names: []string{"a"}})
}

func TestDialSendsTheTokenAsABearerHeader(t *testing.T) {
	r, addr := startRecorder(t)
	client, err := Dial(addr, WithToken("t0ken"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	response, err := read(t, client)
	if err != nil {
		t.Fatal(err)
	}
	if got := response.Results[0].Value; got != "recorded" {
		t.Fatalf("value = %q", got)
	}
	if got := <-r.seen; len(got) != 1 || got[0] != "Bearer t0ken" {
		t.Fatalf("authorization = %v", got)
	}
}

func TestTheAdminClientSharesTheConnectionAndTheToken(t *testing.T) {
	r, addr := startRecorder(t)
	client, err := Dial(addr, WithToken("t0ken"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	me, err := client.Admin.WhoAmI(ctx, &secretgatev1.WhoAmIRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if me.GetCaller().GetName() != "recorded-admin" {
		t.Fatalf("caller = %v", me.GetCaller())
	}
	if got := <-r.seen; len(got) != 1 || got[0] != "Bearer t0ken" {
		t.Fatalf("authorization = %v", got)
	}
}

func TestDialWithoutATokenSendsNoHeader(t *testing.T) {
	r, addr := startRecorder(t)
	client, err := Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := read(t, client); err != nil {
		t.Fatal(err)
	}
	if got := <-r.seen; len(got) != 0 {
		t.Fatalf("authorization = %v", got)
	}
}

func TestAPlaintextServerRefusesATLSClient(t *testing.T) {
	_, addr := startRecorder(t)
	client, err := Dial(addr, WithTLS(nil), WithToken("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := read(t, client); status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
}

// traceRecorder answers Read and records each call's trace context metadata.
type traceRecorder struct {
	secretgatev1.UnimplementedSecretServiceServer
	seen chan [2][]string
}

func (r *traceRecorder) Read(ctx context.Context, in *secretgatev1.ReadRequest) (*secretgatev1.ReadResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	r.seen <- [2][]string{md.Get("traceparent"), md.Get("tracestate")}
	return &secretgatev1.ReadResponse{}, nil
}

type spanKey struct{}

func TestWithTraceContextSendsTheCallersTraceContext(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	r := &traceRecorder{seen: make(chan [2][]string, 4)}
	secretgatev1.RegisterSecretServiceServer(server, r)
	go server.Serve(listener)
	defer server.Stop()

	// A stand-in for a tracing library: the active span's traceparent travels in the context.
	source := func(ctx context.Context) (string, string) {
		traceparent, _ := ctx.Value(spanKey{}).(string)
		return traceparent, "vendor=opaque"
	}
	client, err := Dial(listener.Addr().String(), WithTraceContext(source))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	const active = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	const explicit = "00-11111111111111111111111111111111-2222222222222222-00"
	calls := []context.Context{
		context.WithValue(context.Background(), spanKey{}, active),
		metadata.AppendToOutgoingContext(context.WithValue(context.Background(), spanKey{}, active), "traceparent", explicit),
		context.Background(),
	}
	want := [][2][]string{{{active}, {"vendor=opaque"}}, {{explicit}, nil}, {nil, nil}}
	for i, ctx := range calls {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := client.Read(ctx, &secretgatev1.ReadRequest{Names: []string{"a"}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		got := <-r.seen
		if fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Fatalf("call %d sent traceparent/tracestate %v, want %v", i, got, want[i])
		}
	}
}

func TestDialRefusesAnEmptyAddress(t *testing.T) {
	if _, err := Dial(""); err == nil {
		t.Fatal("Dial(\"\") succeeded")
	}
}

// notHosting answers every Read name as the server does when it does not host it.
type notHosting struct {
	secretgatev1.UnimplementedSecretServiceServer
}

func (notHosting) Read(_ context.Context, in *secretgatev1.ReadRequest) (*secretgatev1.ReadResponse, error) {
	results := make([]*secretgatev1.SecretResult, 0, len(in.Names))
	for _, name := range in.Names {
		reason := NotHosted
		if name == "held-elsewhere" {
			reason = "NOT_IN_BACKEND"
		}
		results = append(results, &secretgatev1.SecretResult{Name: name, Error: &secretgatev1.ItemError{Code: int32(codes.NotFound), Status: "NOT_FOUND", Reason: reason}})
	}
	return &secretgatev1.ReadResponse{Results: results}, nil
}

func TestEnvironmentFallbackAnswersOnlyNamesTheServerDoesNotHost(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	secretgatev1.RegisterSecretServiceServer(server, notHosting{})
	go server.Serve(listener)
	t.Cleanup(server.Stop)

	env := map[string]string{"OPENAI_API_KEY": "from-the-callers-environment", "held-elsewhere": "never-used"}
	lookup := func(name string) (string, bool) { value, ok := env[name]; return value, ok }
	for _, fallback := range []bool{false, true} {
		opts := []Option{}
		if fallback {
			opts = append(opts, WithEnvironmentFallback(lookup))
		}
		client, err := Dial(listener.Addr().String(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		response, err := client.Read(ctx, &secretgatev1.ReadRequest{Names: []string{"OPENAI_API_KEY", "UNSET", "held-elsewhere"}})
		if err != nil {
			t.Fatal(err)
		}
		first := response.Results[0]
		if fallback && (!first.Found || first.Value != "from-the-callers-environment" || first.Source != CallerEnvironment || first.Error != nil) {
			t.Fatalf("with the fallback, a NOT_HOSTED name set in the environment should be found there: %v", first)
		}
		if !fallback && first.Found {
			t.Fatalf("without the fallback the miss stays a miss: %v", first)
		}
		for _, result := range response.Results[1:] {
			if result.Found {
				t.Fatalf("%s: an unset variable or the back end's own miss must stay a miss: %v", result.Name, result)
			}
		}
	}
}
