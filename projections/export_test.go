package projections

import "github.com/cockroachdb/pebble/v2"

// DBForTest returns the serving build's database.
func DBForTest(s *Store) *pebble.DB {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur.db
}
