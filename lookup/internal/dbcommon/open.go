package dbcommon

import (
	"context"

	"github.com/mxrelay/mxrelay/lookup"
)

// Driver is what a database table type supplies to OpenTable.
type Driver struct {
	Type string // "pgsql", "mysql"...
	// Query returns the table's query from its file (each type has its
	// defaults and legacy forms).
	Query func(*Config) (string, error)
	// Backend makes the backend from the file: its hosts (a Failover)
	// and their connection settings, or a database file. It may refuse
	// settings it cannot honour.
	Backend func(*Config) (ClosingBackend, error)
}

// ClosingBackend is a Backend whose connections Close closes.
type ClosingBackend interface {
	Backend
	Close()
}

// OpenTable opens a table of the driver's type from the configuration
// file name, as the driver's lookup.OpenFunc.
func OpenTable(ctx context.Context, d Driver, name string, o *lookup.OpenOptions) (lookup.Table, error) {
	c, err := ReadConfig(d.Type, name)
	if err != nil {
		return nil, err
	}
	query, err := d.Query(c)
	if err != nil {
		return nil, err
	}
	s, err := c.Settings(ctx, d.Type+":"+name, query, o)
	if err != nil {
		return nil, err
	}
	b, err := d.Backend(c)
	if err != nil {
		return nil, err
	}
	return &ClosingTable{Table: Table{Settings: s, Backend: b}, backend: b}, nil
}

// ClosingTable is a Table whose connections Close closes (lookup.Close
// reaches it through the wrappers of lookup.Open).
type ClosingTable struct {
	Table
	backend ClosingBackend
}

// Close closes the table's connections.
func (t *ClosingTable) Close() error {
	t.backend.Close()
	return nil
}
