// Command smoke asks who it is (AdminService), writes, reads, lists and deletes one secret through
// the Go client, then writes and deletes it again under team settings sent with the calls, checks the
// server's health with its token and with one the server does not know, and prints what it saw as one
// JSON object, so a test (or an operator) can check a live server end to end.
//
//	SECRETGATE_ADDR=127.0.0.1:50051 SECRETGATE_TOKEN=… smoke <name> <value>
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/secretgate/secretgate/clients/go/secretgate"
	secretgatev1 "github.com/secretgate/secretgate/clients/go/secretgatev1"
)

type report struct {
	Identity            string   `json:"identity"`
	Written             string   `json:"written"`
	Version             string   `json:"version"`
	ReadFound           bool     `json:"readFound"`
	ReadMatches         bool     `json:"readMatches"`
	ReadSource          string   `json:"readSource"`
	Listed              []string `json:"listed"`
	Deleted             string   `json:"deleted"`
	ReadAfterDelete     string   `json:"readAfterDelete"`
	DeleteAgainError    string   `json:"deleteAgainError"`
	TeamSettingsWritten string   `json:"teamSettingsWritten"`
	TeamSettingsDeleted string   `json:"teamSettingsDeleted"`
	Health              string   `json:"health"`
	UnknownTokenHealth  string   `json:"unknownTokenHealth"`
}

func main() {
	if len(os.Args) != 3 {
		fail(fmt.Errorf("usage: smoke <name> <value>"))
	}
	name, value := os.Args[1], os.Args[2]
	client, err := secretgate.Dial(os.Getenv("SECRETGATE_ADDR"), secretgate.WithToken(os.Getenv("SECRETGATE_TOKEN")))
	if err != nil {
		fail(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var r report
	me, err := client.Admin.WhoAmI(ctx, &secretgatev1.WhoAmIRequest{})
	if err != nil {
		fail(err)
	}
	r.Identity = me.GetCaller().GetName()

	written, err := client.Write(ctx, &secretgatev1.WriteRequest{Name: name, Value: value})
	if err != nil {
		fail(err)
	}
	r.Written, r.Version = written.Name, written.Version

	read, err := client.Read(ctx, &secretgatev1.ReadRequest{Names: []string{name}})
	if err != nil {
		fail(err)
	}
	result := read.Results[0]
	r.ReadFound, r.ReadMatches, r.ReadSource = result.Found, result.Value == value, result.Source

	listed, err := client.ListHosted(ctx, &secretgatev1.ListHostedRequest{})
	if err != nil {
		fail(err)
	}
	r.Listed = []string{}
	for _, key := range listed.Keys {
		r.Listed = append(r.Listed, key.Name)
	}

	deleted, err := client.Delete(ctx, &secretgatev1.DeleteRequest{Name: name, Force: true})
	if err != nil {
		fail(err)
	}
	r.Deleted = deleted.Name

	again, err := client.Read(ctx, &secretgatev1.ReadRequest{Names: []string{name}})
	if err != nil {
		fail(err)
	}
	r.ReadAfterDelete = again.Results[0].GetError().GetStatus()

	_, err = client.Delete(ctx, &secretgatev1.DeleteRequest{Name: name})
	r.DeleteAgainError = status.Code(err).String()

	// A proxy's per-team back-end settings travel with the call as a google.protobuf.Struct.
	teamSettings, err := structpb.NewStruct(map[string]any{"prefix": "go-inline/"})
	if err != nil {
		fail(err)
	}
	inline, err := client.Write(ctx, &secretgatev1.WriteRequest{Name: name, Value: value, VirtualKey: true, TeamSettings: teamSettings})
	if err != nil {
		fail(err)
	}
	r.TeamSettingsWritten = inline.Name
	inlineDeleted, err := client.Delete(ctx, &secretgatev1.DeleteRequest{Name: name, VirtualKey: true, Force: true, TeamSettings: teamSettings})
	if err != nil {
		fail(err)
	}
	r.TeamSettingsDeleted = inlineDeleted.Name

	health := client.CheckHealth(ctx)
	r.Health = fmt.Sprintf("%s/%s/%s", health.Server.Status, health.Token.Status, health.Backends.Status)
	stranger, err := secretgate.Dial(os.Getenv("SECRETGATE_ADDR"), secretgate.WithToken("not-a-token-the-server-knows"))
	if err != nil {
		fail(err)
	}
	defer stranger.Close()
	unknown := stranger.CheckHealth(ctx)
	r.UnknownTokenHealth = fmt.Sprintf("%s/%s/%s", unknown.Server.Status, unknown.Token.Status, unknown.Backends.Status)

	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "smoke:", err)
	os.Exit(1)
}
