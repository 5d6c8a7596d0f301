package secretgate

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	secretgatev1 "github.com/secretgate/secretgate/clients/go/secretgatev1"
)

// ProbeName is the reserved name a health check reads: the server asks the back end for it whatever
// hosted_keys says, and it normally does not exist.
const ProbeName = "secretgate-readiness-probe"

// DefaultHealthTimeout bounds CheckHealth when its context has no deadline.
const DefaultHealthTimeout = 10 * time.Second

// The statuses of a HealthCheck.
const (
	HealthOK         = "ok"
	HealthFailed     = "failed"
	HealthNotChecked = "not checked"
)

// HealthCheck is one part of a health check: its Status (HealthOK, HealthFailed or HealthNotChecked)
// and why.
type HealthCheck struct {
	Status string
	Detail string
}

// HealthReport says how the server, the token and the back ends fared.
type HealthReport struct {
	Server   HealthCheck
	Token    HealthCheck
	Backends HealthCheck
}

// Healthy is true when no part failed.
func (r HealthReport) Healthy() bool {
	return r.Server.Status != HealthFailed && r.Token.Status != HealthFailed && r.Backends.Status != HealthFailed
}

// String says all three parts, e.g. "server: ok (SERVING); token: failed (rejected: UNAUTHENTICATED: …); …".
func (r HealthReport) String() string {
	return fmt.Sprintf("server: %s (%s); token: %s (%s); back ends: %s (%s)",
		r.Server.Status, r.Server.Detail, r.Token.Status, r.Token.Detail, r.Backends.Status, r.Backends.Detail)
}

// CheckHealth asks, in order and each only when the one before passed: the server (grpc.health.v1 Check
// of SecretService answers SERVING), the token (WhoAmI, which needs a valid one) and the back end a read
// reaches (a Read of ProbeName past the cache: found, or "not in the back end", means it answered). It
// runs within ctx's deadline, or DefaultHealthTimeout without one, and never fails for what it checks.
func (c *Client) CheckHealth(ctx context.Context) HealthReport {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultHealthTimeout)
		defer cancel()
	}
	notChecked := func(detail string) HealthCheck { return HealthCheck{HealthNotChecked, detail} }

	var server HealthCheck
	answer, err := healthpb.NewHealthClient(c.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "secretgate.v1.SecretService"})
	switch {
	case err != nil:
		server = HealthCheck{HealthFailed, "did not answer its health check: " + describe(err)}
	case answer.Status != healthpb.HealthCheckResponse_SERVING:
		server = HealthCheck{HealthFailed, "its health check answered " + answer.Status.String()}
	default:
		server = HealthCheck{HealthOK, "SERVING"}
	}
	if server.Status != HealthOK {
		return HealthReport{server, notChecked("the server did not answer"), notChecked("the server did not answer")}
	}

	caller, err := whoAmI(ctx, c.conn)
	if err != nil {
		verdict := "could not be checked"
		if status.Code(err) == codes.Unauthenticated {
			verdict = "rejected"
		}
		return HealthReport{server, HealthCheck{HealthFailed, verdict + ": " + describe(err)}, notChecked("the token was not accepted")}
	}
	token := HealthCheck{HealthOK, fmt.Sprintf("accepted as %q", caller.GetCaller().GetName())}

	read, err := c.Read(ctx, &secretgatev1.ReadRequest{Names: []string{ProbeName}, BypassCache: true})
	if err != nil {
		return HealthReport{server, token, HealthCheck{HealthFailed, describe(err)}}
	}
	return HealthReport{server, token, backends(read.GetResults())}
}

// whoAmI is the token question, in one place: AdminService's WhoAmI answers any valid token and refuses every other one.
func whoAmI(ctx context.Context, conn *grpc.ClientConn) (*secretgatev1.WhoAmIResponse, error) {
	return secretgatev1.NewAdminServiceClient(conn).WhoAmI(ctx, &secretgatev1.WhoAmIRequest{})
}

func backends(results []*secretgatev1.SecretResult) HealthCheck {
	if len(results) == 0 {
		return HealthCheck{HealthFailed, "the probe read answered no result"}
	}
	result := results[0]
	item := result.GetError()
	switch {
	case result.Found:
		return HealthCheck{HealthOK, result.Source + " answered"}
	case item.GetStatus() == "NOT_FOUND" && item.GetReason() == NotHosted:
		// access_mode write_only: the server serves no reads, so no back end is asked for one.
		return HealthCheck{HealthNotChecked, "reads are not served here: " + item.GetMessage()}
	case item.GetStatus() == "NOT_FOUND":
		return HealthCheck{HealthOK, "answered: " + item.GetMessage()}
	case item.GetStatus() == "PERMISSION_DENIED":
		return HealthCheck{HealthNotChecked, "the probe read was refused: " + item.GetMessage()}
	default:
		return HealthCheck{HealthFailed, item.GetStatus() + ": " + item.GetMessage()}
	}
}

var wordStart = regexp.MustCompile(`([a-z])([A-Z])`)

// describe is a failed call as "UNAVAILABLE: message", with gRPC's canonical code name.
func describe(err error) string {
	s := status.Convert(err)
	return strings.ToUpper(wordStart.ReplaceAllString(s.Code().String(), "${1}_${2}")) + ": " + s.Message()
}
