-- What operators watch (metrics at each scrape, the console): pending and
-- quarantined deliveries by system, read through partial indexes so that
-- the cost follows what waits, not every delivery ever made.
CREATE INDEX deliveries_pending ON deliveries (system, created_at) WHERE status = 'pending';
CREATE INDEX deliveries_quarantined ON deliveries (id) WHERE status = 'quarantined';
