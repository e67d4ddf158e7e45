package store

func (s *Store) registered() { s.conn.Query(ctx, s.sql(qFoo), 1) }

func (s *Store) raw() { s.conn.QueryRow(ctx, "SELECT 1") }

func (s *Store) write() { s.insert(ctx, "t", "a, b", 1, nil) }
