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
