package maincf

//go:generate go run ./internal/genparams -o postfix_defaults.go
