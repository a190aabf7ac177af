package postgres

// SchemaVersion is the schema version this code migrates to.
var SchemaVersion = schemaVersion
