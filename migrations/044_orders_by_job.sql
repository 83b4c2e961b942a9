-- `ucp jobs cancel` of an order's job withdraws the order in the same transaction: the open order
-- whose latest job it is, found through this index.
CREATE INDEX orders_open_by_job ON orders (job_id) WHERE state IN ('submitted', 'running', 'rolling_back');
