module github.com/mxrelay/mxrelay/examples/mxrelayd/all

go 1.26.0

require (
	github.com/jackc/pgx/v5 v5.7.5
	github.com/mxrelay/mxrelay v0.0.0
	github.com/mxrelay/mxrelay/lookup/ldap v0.0.0
	github.com/mxrelay/mxrelay/lookup/mysql v0.0.0
	github.com/mxrelay/mxrelay/lookup/pgsql v0.0.0
	github.com/mxrelay/mxrelay/lookup/sqlite v0.0.0
	github.com/mxrelay/mxrelay/queue/postgres v0.0.0
)

require (
	blitiri.com.ar/go/spf v1.6.0 // indirect
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/Azure/go-ntlmssp v0.1.1 // indirect
	github.com/dlclark/regexp2/v2 v2.13.0 // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/emersion/go-msgauth v0.7.0 // indirect
	github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6 // indirect
	github.com/emersion/go-smtp v0.25.1 // indirect
	github.com/go-asn1-ber/asn1-ber v1.5.8 // indirect
	github.com/go-ldap/ldap/v3 v3.4.15 // indirect
	github.com/go-sql-driver/mysql v1.10.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.2 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/miekg/dns v1.1.73 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.40.0 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
	modernc.org/sqlite v1.62.0 // indirect
)

replace (
	github.com/mxrelay/mxrelay => ../../..
	github.com/mxrelay/mxrelay/lookup/ldap => ../../../lookup/ldap
	github.com/mxrelay/mxrelay/lookup/mysql => ../../../lookup/mysql
	github.com/mxrelay/mxrelay/lookup/pgsql => ../../../lookup/pgsql
	github.com/mxrelay/mxrelay/lookup/sqlite => ../../../lookup/sqlite
	github.com/mxrelay/mxrelay/queue/postgres => ../../../queue/postgres
)
