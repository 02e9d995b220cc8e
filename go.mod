module github.com/cellkit/cellkit

go 1.26.0

require (
	github.com/cespare/xxhash/v2 v2.3.0
	github.com/sony/gobreaker/v2 v2.4.0
)

require golang.org/x/sync v0.23.0
