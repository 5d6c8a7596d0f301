// Command client-overhead measures what the Go client (clients/go/secretgate) adds to a cached Read:
// it alternates calls of the generated stub on a plain connection, carrying the token in its
// context, with calls of the client from secretgate.Dial, in rounds, and prints each side's
// latencies as one JSON object. bench/client-overhead.ts builds it from Debian's Go packages and
// runs it against a live server:
//
//	SECRETGATE_BENCH_ADDR=… SECRETGATE_BENCH_TOKEN=… SECRETGATE_BENCH_NAME=… client-overhead <rounds> <calls per round>
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/secretgate/secretgate/clients/go/secretgate"
	secretgatev1 "github.com/secretgate/secretgate/clients/go/secretgatev1"
)

type side struct {
	MedianMicros float64 `json:"median_us"`
	P99Micros    float64 `json:"p99_us"`
	Samples      int     `json:"samples"`
}

type comparison struct {
	Name   string `json:"name"`
	Bare   side   `json:"bare"`
	Helper side   `json:"helper"`
}

func main() {
	if len(os.Args) != 3 {
		fail(fmt.Errorf("usage: client-overhead <rounds> <calls per round>"))
	}
	rounds, calls := number(os.Args[1]), number(os.Args[2])
	addr, token, name := os.Getenv("SECRETGATE_BENCH_ADDR"), os.Getenv("SECRETGATE_BENCH_TOKEN"), os.Getenv("SECRETGATE_BENCH_NAME")

	client, err := secretgate.Dial(addr, secretgate.WithToken(token))
	if err != nil {
		fail(err)
	}
	defer client.Close()
	conn, err := grpc.Dial(addr, grpc.WithInsecure())
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	stub := secretgatev1.NewSecretServiceClient(conn)
	withToken := metadata.NewOutgoingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+token))

	// Each side gives every call the same 10 s deadline, as a caller of either would.
	bare := func() (*secretgatev1.ReadResponse, error) {
		ctx, cancel := context.WithTimeout(withToken, 10*time.Second)
		defer cancel()
		return stub.Read(ctx, &secretgatev1.ReadRequest{Names: []string{name}})
	}
	helper := func() (*secretgatev1.ReadResponse, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return client.Read(ctx, &secretgatev1.ReadRequest{Names: []string{name}})
	}
	for _, call := range []func() (*secretgatev1.ReadResponse, error){bare, helper} {
		response, err := call()
		if err != nil {
			fail(err)
		}
		if result := response.GetResults()[0]; !result.GetFound() || !result.GetFromCache() {
			fail(fmt.Errorf("the benchmark's name was not a cache hit"))
		}
	}

	var bareTimes, helperTimes []time.Duration
	var value string
	timed := func(call func() (*secretgatev1.ReadResponse, error), into *[]time.Duration, keep bool) {
		for i := 0; i < calls; i++ {
			start := time.Now()
			response, err := call()
			if err != nil {
				fail(err)
			}
			value = response.GetResults()[0].GetValue()
			if keep {
				*into = append(*into, time.Since(start))
			}
		}
	}
	// The first round warms both sides up and is not counted; later rounds alternate which side goes first.
	for round := 0; round <= rounds; round++ {
		keep := round > 0
		if round%2 == 0 {
			timed(bare, &bareTimes, keep)
			timed(helper, &helperTimes, keep)
		} else {
			timed(helper, &helperTimes, keep)
			timed(bare, &bareTimes, keep)
		}
	}
	if value == "" {
		fail(fmt.Errorf("the benchmark's name answered no value"))
	}
	out := map[string]any{
		"runtime":     fmt.Sprintf("Go %s, grpc-go %s", runtime.Version()[2:], grpc.Version),
		"comparisons": []comparison{{Name: "go", Bare: summary(bareTimes), Helper: summary(helperTimes)}},
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err)
	}
}

func summary(times []time.Duration) side {
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	at := func(q float64) float64 { return float64(times[int(q*float64(len(times)-1))]) / 1e3 }
	return side{MedianMicros: at(0.5), P99Micros: at(0.99), Samples: len(times)}
}

func number(text string) int {
	n, err := strconv.Atoi(text)
	if err != nil || n < 1 {
		fail(fmt.Errorf("not a positive count: %q", text))
	}
	return n
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "client-overhead:", err)
	os.Exit(1)
}
