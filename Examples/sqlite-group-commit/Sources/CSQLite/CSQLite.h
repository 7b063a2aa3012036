// The system's SQLite (Debian: libsqlite3-dev), for the sqlite-group-commit example.
// The shim exists only to name the header for the module map; no code of its own.
#include <sqlite3.h>
