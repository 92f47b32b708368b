-- The relay reads pending deliveries in outbox order, leaving out native
-- units (they pull) and portal publications (pushed over HTTPS). Without
-- this index that read scanned every delivery ever made before the first
-- pending one; with it, the read costs the same on the millionth delivery
-- as on the first. The outbox query repeats these conditions literally,
-- which is what lets the planner use a partial index.
CREATE INDEX deliveries_outbox ON deliveries (id)
    WHERE status = 'pending' AND kind <> 'publication' AND system <> 'native';
