module github.com/cellkit/cellkit/cmd/cellctl

go 1.26

require github.com/cellkit/cellkit v0.0.0

require github.com/cespare/xxhash/v2 v2.3.0 // indirect

replace github.com/cellkit/cellkit => ../..
