module github.com/secretgate/secretgate/clients/go

go 1.19

// The lowest versions the generated code needs (Debian bookworm ships exactly these).
require (
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)
