module github.com/statepack/statepack

go 1.26.8

require golang.org/x/crypto v0.59.0
