package secretgate

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	secretgatev1 "github.com/secretgate/secretgate/clients/go/secretgatev1"
)

// recorder answers Read and records the authorization metadata of each call.
type recorder struct {
	secretgatev1.UnimplementedSecretServiceServer
	seen chan []string
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
