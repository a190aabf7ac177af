// Package lookup implements Postfix-compatible lookup tables and the key
// orders Postfix uses to search them.
package lookup
