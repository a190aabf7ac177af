package dbcommon

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
)

// TLSFiles are a table's TLS settings as Postfix's database clients name
// them (mysql_table(5): tls_CAfile, tls_CApath, tls_cert_file,
// tls_key_file, tls_verify_cert; ldap_table(5): tls_ca_cert_file,
// tls_ca_cert_dir, tls_cert, tls_key, tls_require_cert).
type TLSFiles struct {
	CAFile, CADir     string // trusted CAs; none: the system's
	CertFile, KeyFile string // the client certificate, when the server asks for one
	Verify            bool   // verify the server's certificate and name
}

// Config returns the TLS configuration for a server named serverName.
// Without Verify the server's certificate is not checked (encryption
// without authentication), as the C client libraries do by default.
func (f TLSFiles) Config(serverName string) (*tls.Config, error) {
	c := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12, InsecureSkipVerify: !f.Verify}
	if f.CAFile != "" || f.CADir != "" {
		pool := x509.NewCertPool()
		files := []string{}
		if f.CAFile != "" {
			files = append(files, f.CAFile)
		}
		if f.CADir != "" {
			m, err := filepath.Glob(filepath.Join(f.CADir, "*"))
			if err != nil {
				return nil, err
			}
			files = append(files, m...)
		}
		added := false
		for _, p := range files {
			pem, err := os.ReadFile(p)
			if err != nil {
				if p == f.CAFile {
					return nil, err
				}
				continue // a CA directory holds hash links and other files
			}
			added = pool.AppendCertsFromPEM(pem) || added
		}
		if !added {
			return nil, fmt.Errorf("no CA certificate in %s%s", f.CAFile, f.CADir)
		}
		c.RootCAs = pool
	}
	if f.CertFile != "" || f.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
