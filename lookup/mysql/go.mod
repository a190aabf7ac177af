module github.com/mxrelay/mxrelay/lookup/mysql

go 1.25.0

require (
	github.com/go-sql-driver/mysql v1.10.2
	github.com/mxrelay/mxrelay v0.0.0
)

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/dlclark/regexp2/v2 v2.13.0 // indirect
)

replace github.com/mxrelay/mxrelay => ../..
