package secretgate

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	secretgatev1 "github.com/secretgate/secretgate/clients/go/secretgatev1"
)

// gate stands in for a secretgate server: it knows one token, and its probe read answers probeAnswer.
type gate struct {
	secretgatev1.UnimplementedSecretServiceServer
	probeAnswer *secretgatev1.ItemError
}

func (g *gate) authenticated(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer good-token" {
		return status.Error(codes.Unauthenticated, "missing or unknown token")
	}
	return nil
}

func (g *gate) WhoAmI(ctx context.Context, _ *secretgatev1.WhoAmIRequest) (*secretgatev1.WhoAmIResponse, error) {
	if err := g.authenticated(ctx); err != nil {
		return nil, err
	}
	return &secretgatev1.WhoAmIResponse{Caller: &secretgatev1.Caller{Name: "litellm-proxy"}}, nil
}

// adminGate is the gate's AdminService side: WhoAmI, the health check's token question.
type adminGate struct {
	secretgatev1.UnimplementedAdminServiceServer
	gate *gate
}

func (a adminGate) WhoAmI(ctx context.Context, in *secretgatev1.WhoAmIRequest) (*secretgatev1.WhoAmIResponse, error) {
	return a.gate.WhoAmI(ctx, in)
}

func (g *gate) Read(ctx context.Context, in *secretgatev1.ReadRequest) (*secretgatev1.ReadResponse, error) {
	if err := g.authenticated(ctx); err != nil {
		return nil, err
	}
	if len(in.Names) != 1 || in.Names[0] != ProbeName || !in.BypassCache {
		return nil, status.Errorf(codes.InvalidArgument, "expected the probe read, got %v (bypass_cache %v)", in.Names, in.BypassCache)
	}
	return &secretgatev1.ReadResponse{Results: []*secretgatev1.SecretResult{{Name: ProbeName, Error: g.probeAnswer}}}, nil
}

func startGate(t *testing.T, serving healthpb.HealthCheckResponse_ServingStatus, probeAnswer *secretgatev1.ItemError) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	checks := health.NewServer()
	checks.SetServingStatus("secretgate.v1.SecretService", serving)
	healthpb.RegisterHealthServer(server, checks)
	stand := &gate{probeAnswer: probeAnswer}
	secretgatev1.RegisterSecretServiceServer(server, stand)
	secretgatev1.RegisterAdminServiceServer(server, adminGate{gate: stand})
	go server.Serve(listener)
	t.Cleanup(server.Stop)
	return listener.Addr().String()
}

var notInBackend = &secretgatev1.ItemError{Code: int32(codes.NotFound), Status: "NOT_FOUND", Reason: "NOT_IN_BACKEND", Message: `"secretgate-readiness-probe" was not found in hashicorp_vault`}

func check(t *testing.T, addr, token string) HealthReport {
	t.Helper()
	client, err := Dial(addr, WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return client.CheckHealth(ctx)
}

func expectStatuses(t *testing.T, report HealthReport, server, token, backends string) {
	t.Helper()
	if report.Server.Status != server || report.Token.Status != token || report.Backends.Status != backends {
		t.Fatalf("report = %s; want server %s, token %s, back ends %s", report, server, token, backends)
	}
}

func TestCheckHealthIsHealthyWhenTheServerTheTokenAndTheBackEndAnswer(t *testing.T) {
	report := check(t, startGate(t, healthpb.HealthCheckResponse_SERVING, notInBackend), "good-token")
	expectStatuses(t, report, HealthOK, HealthOK, HealthOK)
	if !report.Healthy() || !strings.Contains(report.Token.Detail, `"litellm-proxy"`) {
		t.Fatalf("report = %s", report)
	}
}

func TestCheckHealthSaysTheTokenWasRejected(t *testing.T) {
	report := check(t, startGate(t, healthpb.HealthCheckResponse_SERVING, notInBackend), "stolen-or-stale")
	expectStatuses(t, report, HealthOK, HealthFailed, HealthNotChecked)
	if report.Healthy() || !strings.HasPrefix(report.Token.Detail, "rejected: UNAUTHENTICATED: ") || strings.Contains(report.String(), "stolen-or-stale") {
		t.Fatalf("report = %s", report)
	}
}

func TestCheckHealthSaysTheBackEndDidNotAnswer(t *testing.T) {
	sealed := &secretgatev1.ItemError{Code: int32(codes.Unavailable), Status: "UNAVAILABLE", Message: "Vault is sealed"}
	report := check(t, startGate(t, healthpb.HealthCheckResponse_SERVING, sealed), "good-token")
	expectStatuses(t, report, HealthOK, HealthOK, HealthFailed)
	if report.Healthy() || report.Backends.Detail != "UNAVAILABLE: Vault is sealed" {
		t.Fatalf("report = %s", report)
	}
}

func TestCheckHealthSaysTheServerIsNotServing(t *testing.T) {
	report := check(t, startGate(t, healthpb.HealthCheckResponse_NOT_SERVING, notInBackend), "good-token")
	expectStatuses(t, report, HealthFailed, HealthNotChecked, HealthNotChecked)
	if report.Server.Detail != "its health check answered NOT_SERVING" {
		t.Fatalf("report = %s", report)
	}
}

func TestCheckHealthOfAnUnreachableServerSaysTheServerFailed(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	listener.Close()
	report := check(t, addr, "good-token")
	expectStatuses(t, report, HealthFailed, HealthNotChecked, HealthNotChecked)
	if !strings.Contains(report.Server.Detail, "UNAVAILABLE") && !strings.Contains(report.Server.Detail, "DEADLINE_EXCEEDED") {
		t.Fatalf("report = %s", report)
	}
}
