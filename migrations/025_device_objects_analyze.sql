-- Change notification (issue 13) looks objects up by uuid (device_objects_uuid) in every poll. After
-- a device synchronization has written thousands of rows, the statistics autovacuum keeps can lag
-- behind by minutes, and a poll planned on them scans the whole table for each lookup. The sync
-- refreshes them itself when it ends. ANALYZE needs the table's owner: ucp_app runs it through this
-- function (SECURITY DEFINER), which can do nothing else.
CREATE FUNCTION ucp_device_objects_analyze() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    ANALYZE device_objects;
END
$$;
REVOKE ALL ON FUNCTION ucp_device_objects_analyze() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ucp_device_objects_analyze() TO ucp_app;
