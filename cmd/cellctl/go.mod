module github.com/cellkit/cellkit/cmd/cellctl

go 1.26.0

require (
	github.com/cellkit/cellkit v0.0.0
	github.com/rogpeppe/go-internal v1.16.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	golang.org/x/sys v0.26.0 // indirect
	golang.org/x/tools v0.26.0 // indirect
)

replace github.com/cellkit/cellkit => ../..
